using System.CommandLine;
using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong caption FILE [--segment-seconds S]</c>: dense captions through the in-process pipeline (prepare and
/// encode reuse the artifact cache, so a video already encoded with the same settings is not decoded again), printed
/// as <c>[mm:ss-mm:ss] text</c>, one line per segment.
/// </summary>
internal static class CaptionCommand
{
    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web);

    public static Command Create(CliContext cli)
    {
        var file = new Argument<string>("FILE") { Description = "The video." };
        var segmentSeconds = new Option<double>("--segment-seconds") { Description = "Length of each captioned segment in seconds (the last one is shorter).", DefaultValueFactory = _ => 10 };
        var model = new Option<string?>("--model") { Description = "LLaVA-OneVision checkpoint folder (default: VideoLong-Tiny, models/videolong-tiny)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the model folder." };
        var frames = new Option<int?>("--frames") { Description = "Frames sampled uniformly from the whole video (instead of --fps)." };
        var fps = new Option<double?>("--fps") { Description = "Frames sampled per second (default 1)." };
        var maxSegments = new Option<int>("--max-segments") { Description = "Refuse videos that make more segments than this.", DefaultValueFactory = _ => 1000 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens generated per segment.", DefaultValueFactory = _ => 64 };
        var data = new Option<string?>("--data") { Description = "Data folder for the job store and the artifact cache (default ~/.videolong)." };
        var json = new Option<bool>("--json") { Description = "Write the segments, cache hits and the job id as JSON." };
        var command = new Command("caption", "Dense captions of a video, one per segment, through the in-process pipeline.")
        {
            file, segmentSeconds, model, tokenizer, frames, fps, maxSegments, maxNew, data, json,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string video = Path.GetFullPath(parse.GetRequiredValue(file));
            if (!File.Exists(video))
            {
                throw new VideoLongException($"Video '{parse.GetRequiredValue(file)}' does not exist.");
            }

            string modelDir = InProcessJob.ModelFolder(parse.GetValue(model) ?? Training.DefaultModel.Resolve());
            double seconds = parse.GetValue(segmentSeconds);
            if (!(seconds > 0) || !double.IsFinite(seconds))
            {
                throw new VideoLongException($"Invalid --segment-seconds {seconds}: give a positive number of seconds, e.g. 10.");
            }

            int max = parse.GetValue(maxSegments);
            if (max is < 1 or > CaptionGenerator.MaxSegmentsLimit)
            {
                throw new VideoLongException($"Invalid --max-segments {max}: must be 1 to {CaptionGenerator.MaxSegmentsLimit}.");
            }

            int? frameCount = parse.GetValue(frames);
            double? rate = parse.GetValue(fps);
            if (frameCount is not null && rate is not null)
            {
                throw new VideoLongException("Give --frames or --fps, not both.");
            }

            if (frameCount is < 1 or > 4096 || rate is not null && !(rate > 0 && rate <= 60))
            {
                throw new VideoLongException("Invalid sampling: --frames must be 1 to 4096, --fps more than 0 and at most 60.");
            }

            int newTokens = parse.GetValue(maxNew);
            if (newTokens is < 1 or > 4096)
            {
                throw new VideoLongException($"Invalid --max-new-tokens {newTokens}: must be 1 to 4096.");
            }

            var options = new PipelineOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory),
                TokenizerDirectory = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : null,
            };
            var request = new CaptionVideo
            {
                JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = video, SegmentSeconds = seconds, MaxSegments = max, Model = modelDir,
                Sampling = frameCount is { } n
                    ? new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = n }
                    : new SamplingSettings { Strategy = SamplingStrategy.Fps, Fps = rate ?? 1.0 },
                Generation = new GenerationSettings { MaxNewTokens = newTokens },
            };
            JobRecord job = await InProcessJob.RunAsync(cli, options, nameof(CaptionVideo), request, (c, id) => c with { JobId = id }, cancellationToken).ConfigureAwait(false);
            VideoCaptions captions = JsonSerializer.Deserialize<VideoCaptions>(job.ResultJson!, WebJson)!;
            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(new
                {
                    jobId = job.Id.Value, captions.Segments, captions.SegmentSeconds, captions.DurationSeconds, captions.FrameCount, captions.VisualTokens,
                    cached = new { frames = captions.Cached.Frames, tokens = captions.Cached.Tokens },
                }).ConfigureAwait(false);
                return VideoLongCli.ExitOk;
            }

            foreach (CaptionSegment segment in captions.Segments)
            {
                string text = segment.FrameCount == 0 ? "(no sampled frames)" : segment.Text;
                await cli.Out.WriteLineAsync($"[{CaptionGenerator.Clock(segment.StartSeconds)}-{CaptionGenerator.Clock(segment.EndSeconds)}] {text}").ConfigureAwait(false);
            }

            if (captions.Cached.Frames || captions.Cached.Tokens)
            {
                await cli.Error.WriteLineAsync($"from the artifact cache: {(captions.Cached.Frames ? "frames" : "")}{(captions.Cached.Frames && captions.Cached.Tokens ? ", " : "")}{(captions.Cached.Tokens ? "visual tokens" : "")}").ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }
}
