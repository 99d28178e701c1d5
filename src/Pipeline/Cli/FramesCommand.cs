using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong frames FILE (--fps F | --count N | --strategy S) [--start S --end E] [--size WxH --resize fit|crop|pad|stretch] --out DIR</c>:
/// writes the sampled frames as PNG, named by sample index and timestamp, and <c>manifest.json</c> with exact timestamps.
/// </summary>
internal static class FramesCommand
{
    public const string ManifestName = "manifest.json";

    public static Command Create(CliContext cli)
    {
        var file = new Argument<string>("FILE") { Description = "The video to sample." };
        var size = new Option<string?>("--size") { Description = "Frame size WxH, e.g. 448x448 (needs --resize; default: the video's display size)." };
        var resize = new Option<string?>("--resize") { Description = "fit | crop | pad | stretch (default with --size: pad)." };
        var output = new Option<string>("--out") { Description = "Folder to write frames and manifest.json into (created if missing).", Required = true };
        var json = new Option<bool>("--json") { Description = "Write the manifest to stdout as JSON too." };
        var sampling = new SamplingArguments();
        var command = new Command("frames", "Sample frames of a video and write them as PNG with a JSON manifest of exact timestamps.") { file, size, resize, output, json };
        sampling.AddTo(command);

        command.SetAction(async (parse, cancellationToken) =>
        {
            FrameFormat format = ParseFormat(parse.GetValue(size), parse.GetValue(resize));
            string outDir = PrepareOutput(parse.GetRequiredValue(output));
            var decoder = await VideoDecoder.OpenAsync(parse.GetRequiredValue(file), new DecoderOptions { Planner = sampling.Planner(parse) }, cancellationToken).ConfigureAwait(false);
            SamplePlan samples = sampling.Sample(parse, decoder.Metadata.Timeline);
            DecodePlan plan = decoder.Plan(samples);

            ProgressBar bar = cli.Progress("frames");
            int width = 0, height = 0;
            var entries = new List<FrameEntry>(samples.Count);
            await foreach (VideoFrame frame in decoder.DecodeAsync(plan, format, null, cancellationToken).ConfigureAwait(false))
            {
                string name = string.Create(CultureInfo.InvariantCulture, $"{frame.SampleIndex:D6}_{frame.PtsSeconds:0.000}s.png");
                using VideoFrame written = frame;
                FramePng.Save(frame, Path.Combine(outDir, name));
                (width, height) = (frame.Width, frame.Height);
                entries.Add(new FrameEntry(frame.SampleIndex, frame.FrameIndex, frame.RequestedSeconds, frame.PtsSeconds, frame.DurationSeconds,
                    frame.IsKeyframe, frame.Approximate, name));
                bar.Report((entries.Count, samples.Count));
            }

            bar.Finish();
            var manifest = new FramesManifest(decoder.Metadata.Path, decoder.Metadata.Codec, decoder.Metadata.DurationSeconds, decoder.Metadata.FrameRate.Value,
                samples.Strategy, PlanView.From(plan), width, height, entries.OrderBy(e => e.SampleIndex).ToArray());
            string manifestPath = Path.Combine(outDir, ManifestName);
            await File.WriteAllTextAsync(manifestPath, JsonSerializer.Serialize(manifest, CliContext.Json), cancellationToken).ConfigureAwait(false);

            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(manifest).ConfigureAwait(false);
            }
            else
            {
                await cli.Out.WriteLineAsync($"{entries.Count} frames ({samples.Strategy}; {plan.Mode}{(plan.Approximate ? ", approximate" : "")}) → {outDir}").ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    internal static FrameFormat ParseFormat(string? size, string? resize)
    {
        ResizeMode? mode = resize switch
        {
            null => null,
            "fit" => ResizeMode.Fit,
            "crop" => ResizeMode.Crop,
            "pad" => ResizeMode.Pad,
            "stretch" => ResizeMode.Stretch,
            _ => throw new VideoLongException($"Invalid --resize '{resize}': accepted values are fit, crop, pad, stretch."),
        };
        if (size is null)
        {
            return mode is null ? FrameFormat.Native : throw new VideoLongException("--resize needs --size WxH.");
        }

        (int w, int h) = FrameFormat.ParseSize(size);
        return FrameFormat.Model(w, h, mode ?? ResizeMode.Pad);
    }

    /// <summary>Creates the output folder; refuses a path that is an existing file.</summary>
    internal static string PrepareOutput(string path)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            throw new VideoLongException($"--out '{path}' is a file; give a folder (it is created if missing).");
        }

        Directory.CreateDirectory(full);
        return full;
    }

    internal sealed record FrameEntry(int SampleIndex, int FrameIndex, double RequestedSeconds, double PtsSeconds, double DurationSeconds,
        bool IsKeyframe, bool Approximate, string File);

    internal sealed record FramesManifest(string Source, string Codec, double DurationSeconds, double FrameRate, string Strategy, PlanView Plan,
        int Width, int Height, IReadOnlyList<FrameEntry> Frames);
}
