using System.CommandLine;
using System.Globalization;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Cli;

/// <summary><c>videolong probe FILE [--plan [sampling options]] [--json]</c></summary>
internal static class ProbeCommand
{
    public static Command Create(CliContext cli)
    {
        var file = new Argument<string>("FILE") { Description = "The video to probe." };
        var plan = new Option<bool>("--plan") { Description = "Also plan the decode of the sampling given (default: --fps 1) and show each mode's predicted cost." };
        var json = new Option<bool>("--json") { Description = "Write JSON to stdout." };
        var sampling = new SamplingArguments();
        var command = new Command("probe", "Container, codec, duration, frame rate, frame count, rotation and keyframe timestamps of a video.") { file, plan, json };
        sampling.AddTo(command);

        command.SetAction(async (parse, cancellationToken) =>
        {
            VideoMetadata meta = await VideoProbe.ProbeAsync(parse.GetRequiredValue(file), cancellationToken: cancellationToken).ConfigureAwait(false);
            DecodePlan? decodePlan = null;
            if (parse.GetValue(plan))
            {
                SamplePlan samples = sampling.AnyGiven(parse)
                    ? sampling.Sample(parse, meta.Timeline)
                    : FrameSamplers.Fps(meta.Timeline, 1);
                decodePlan = DecodePlanner.Plan(meta, samples, sampling.Planner(parse));
            }

            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(new { video = VideoView.From(meta), plan = decodePlan is null ? null : PlanView.From(decodePlan) }).ConfigureAwait(false);
                return VideoLongCli.ExitOk;
            }

            TextWriter o = cli.Out;
            await o.WriteLineAsync($"file        {meta.Path}").ConfigureAwait(false);
            await o.WriteLineAsync($"container   {meta.Container} ({meta.ContainerLongName})").ConfigureAwait(false);
            await o.WriteLineAsync($"codec       {meta.Codec} ({meta.CodecLongName}{(meta.Profile is null ? "" : ", " + meta.Profile)}), {meta.PixelFormat}").ConfigureAwait(false);
            await o.WriteLineAsync($"size        {meta.Width}x{meta.Height} stored, {meta.DisplayWidth}x{meta.DisplayHeight} displayed, rotation {meta.Rotation}°, SAR {meta.SampleAspectRatio}").ConfigureAwait(false);
            await o.WriteLineAsync(Inv($"duration    {meta.DurationSeconds:0.000} s (start {meta.StartSeconds:0.000} s)")).ConfigureAwait(false);
            await o.WriteLineAsync(Inv($"frame rate  {meta.FrameRate} ({meta.FrameRate.Value:0.###} fps)")).ConfigureAwait(false);
            await o.WriteLineAsync($"frames      {meta.FrameCount}").ConfigureAwait(false);
            double[] keys = meta.KeyframeSeconds.ToArray();
            string keyList = string.Join(", ", keys.Take(20).Select(SamplingArguments.Seconds)) + (keys.Length > 20 ? $", … ({keys.Length - 20} more)" : "");
            await o.WriteLineAsync($"keyframes   {keys.Length}: {keyList}").ConfigureAwait(false);
            await o.WriteLineAsync($"audio       {(meta.HasAudio ? "yes" : "no")}").ConfigureAwait(false);
            foreach (string warning in meta.Warnings)
            {
                await o.WriteLineAsync($"warning     {warning}").ConfigureAwait(false);
            }

            if (decodePlan is not null)
            {
                await o.WriteLineAsync($"plan        {decodePlan.Samples.Strategy}: {decodePlan.Samples.Count} frames").ConfigureAwait(false);
                await o.WriteLineAsync($"  chosen    {decodePlan.Mode}{(decodePlan.Approximate ? " (approximate: nearest keyframes)" : "")} — {decodePlan.Reason}").ConfigureAwait(false);
                foreach (DecodeCost cost in decodePlan.Alternatives)
                {
                    await o.WriteLineAsync(Inv($"  {cost.Mode,-14} ~{cost.EstimatedSeconds,8:0.00} s  {cost.FramesDecoded,8} frames decoded  {cost.Processes,5} process(es){(cost.Exact ? "" : "  [approximate]")}")).ConfigureAwait(false);
                }
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The JSON shape of a decode plan (the sample list is summarised, not repeated).</summary>
internal sealed record PlanView(DecodeMode Mode, string Reason, bool Approximate, string Strategy, int Frames, DecodeCost Chosen, IReadOnlyList<DecodeCost> Alternatives)
{
    public static PlanView From(DecodePlan plan) =>
        new(plan.Mode, plan.Reason, plan.Approximate, plan.Samples.Strategy, plan.Samples.Count, plan.Chosen, plan.Alternatives);
}

/// <summary>The JSON shape of probed metadata.</summary>
internal sealed record VideoView(string Path, string Container, string ContainerLongName, string Codec, string CodecLongName, string? Profile,
    string PixelFormat, int StreamIndex, int Width, int Height, int DisplayWidth, int DisplayHeight, int Rotation, string SampleAspectRatio,
    string FrameRate, double Fps, string TimeBase, double DurationSeconds, double StartSeconds, long? BitRate, bool HasAudio, int FrameCount,
    IReadOnlyList<double> KeyframeSeconds, IReadOnlyList<string> Warnings)
{
    public static VideoView From(VideoMetadata m) => new(m.Path, m.Container, m.ContainerLongName, m.Codec, m.CodecLongName, m.Profile,
        m.PixelFormat, m.StreamIndex, m.Width, m.Height, m.DisplayWidth, m.DisplayHeight, m.Rotation, m.SampleAspectRatio.ToString(),
        m.FrameRate.ToString(), m.FrameRate.Value, m.TimeBase.ToString(), m.DurationSeconds, m.StartSeconds, m.BitRate, m.HasAudio, m.FrameCount,
        m.KeyframeSeconds.ToArray(), m.Warnings);
}
