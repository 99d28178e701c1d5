using System.CommandLine;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong ask FILE "question" --model DIR</c>: runs the whole pipeline in process (in-memory bus, SQLite job store
/// and artifact cache under the data folder), shows progress from JobProgressed, and prints the answer with the
/// timestamps of the frames that support it. A second question on the same video and settings skips decode and encode.
/// </summary>
internal static class AskCommand
{
    private static readonly System.Text.Json.JsonSerializerOptions WebJson = new(System.Text.Json.JsonSerializerDefaults.Web);

    public static Command Create(CliContext cli)
    {
        var file = new Argument<string>("FILE") { Description = "The video." };
        var question = new Argument<string>("QUESTION") { Description = "The question about the video." };
        var model = new Option<string?>("--model") { Description = "LLaVA-OneVision checkpoint folder (default: VideoLong-Tiny, models/videolong-tiny)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the model folder." };
        var frames = new Option<int>("--frames") { Description = "Frames sampled uniformly from the video.", DefaultValueFactory = _ => 8 };
        var tokensPerFrame = new Option<int?>("--tokens-per-frame") { Description = "HiCo clip-level merge to N tokens per frame; default: the model's own pooling." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
        var data = new Option<string?>("--data") { Description = "Data folder for the job store and the artifact cache (default ~/.videolong)." };
        var json = new Option<bool>("--json") { Description = "Write the answer, timestamps, cache hits and timings as JSON." };
        var command = new Command("ask", "Answer a question about a video through the in-process pipeline.")
        {
            file, question, model, tokenizer, frames, tokensPerFrame, maxNew, data, json,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string video = Path.GetFullPath(parse.GetRequiredValue(file));
            if (!File.Exists(video))
            {
                throw new VideoLongException($"Video '{parse.GetRequiredValue(file)}' does not exist.");
            }

            string modelDir = Path.GetFullPath(parse.GetValue(model) ?? Training.DefaultModel.Resolve());
            if (!File.Exists(Path.Combine(modelDir, "config.json")))
            {
                throw new VideoLongException($"--model '{modelDir}' is not a checkpoint folder (no config.json).");
            }

            int frameCount = parse.GetValue(frames);
            int? tpf = parse.GetValue(tokensPerFrame);
            if (frameCount is < 1 or > 4096 || (tpf is not null && frameCount % 4 != 0))
            {
                throw new VideoLongException($"Invalid --frames {frameCount}: must be 1 to 4096, and a multiple of the HiCo clip length (4) with --tokens-per-frame.");
            }

            var options = new PipelineOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory),
                TokenizerDirectory = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : null,
            };
            await using ServiceProvider services = new ServiceCollection().AddVideoLongPipeline(options).BuildServiceProvider();
            IBusControl bus = services.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var request = new AnswerQuestion
                {
                    JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = video, Question = parse.GetRequiredValue(question), Model = modelDir,
                    Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = frameCount },
                    Compression = new CompressionSettings { TokensPerFrame = tpf },
                    Generation = new GenerationSettings { MaxNewTokens = parse.GetValue(maxNew) },
                };
                IJobStore store = services.GetRequiredService<IJobStore>();
                JobId jobId = await store.CreateAsync(nameof(AnswerQuestion), System.Text.Json.JsonSerializer.Serialize(request with { JobId = default }), Environment.UserName, cancellationToken).ConfigureAwait(false);
                JobEvents events = services.GetRequiredService<JobEvents>();
                using var progress = new StageProgress(cli, jobId);
                events.Progressed += progress.Report;
                Task<object> ended = events.WhenEndedAsync(jobId, cancellationToken);
                await bus.Publish(request with { JobId = jobId }, cancellationToken).ConfigureAwait(false);
                object ending = await ended.ConfigureAwait(false);
                events.Progressed -= progress.Report;
                progress.Finish();
                if (ending is JobFaulted faulted)
                {
                    throw new VideoLongException($"{faulted.Stage} failed: {faulted.ErrorMessage}");
                }

                await WriteAsync(cli, store, jobId, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static async Task WriteAsync(CliContext cli, IJobStore store, JobId jobId, bool json, CancellationToken cancellationToken)
    {
        JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
        VideoAnswer answer = System.Text.Json.JsonSerializer.Deserialize<VideoAnswer>(job.ResultJson!, WebJson)!;
        if (json)
        {
            IReadOnlyList<StageTiming> timings = await store.GetTimingsAsync(jobId, cancellationToken).ConfigureAwait(false);
            await cli.WriteJsonAsync(new
            {
                jobId = jobId.Value,
                answer.Answer,
                answer.SupportingTimestamps,
                cached = new { frames = answer.Cached.Frames, tokens = answer.Cached.Tokens },
                answer.FrameCount,
                answer.VisualTokens,
                answer.DurationSeconds,
                timings = timings.Select(t => new { state = t.State, seconds = t.Duration?.TotalSeconds }),
            }).ConfigureAwait(false);
            return;
        }

        await cli.Out.WriteLineAsync(answer.Answer).ConfigureAwait(false);
        await cli.Out.WriteLineAsync($"supporting frames at: {string.Join(", ", answer.SupportingTimestamps.Select(s => SamplingArguments.Seconds(s) + " s"))}").ConfigureAwait(false);
        if (answer.Cached.Frames || answer.Cached.Tokens)
        {
            await cli.Error.WriteLineAsync($"from the artifact cache: {(answer.Cached.Frames ? "frames" : "")}{(answer.Cached.Frames && answer.Cached.Tokens ? ", " : "")}{(answer.Cached.Tokens ? "visual tokens" : "")}").ConfigureAwait(false);
        }
    }

    /// <summary>One progress bar per stage, drawn from the job's JobProgressed events.</summary>
    private sealed class StageProgress(CliContext cli, JobId jobId) : IDisposable
    {
        private readonly Lock _lock = new();
        private JobStage? _stage;
        private ProgressBar? _bar;

        public void Report(JobProgressed progressed)
        {
            if (progressed.JobId != jobId)
            {
                return;
            }

            lock (_lock)
            {
                if (_stage != progressed.Stage)
                {
                    _bar?.Finish();
                    _stage = progressed.Stage;
                    _bar = cli.Progress(progressed.Stage.ToString().ToLowerInvariant());
                }

                _bar!.Report(((int)progressed.Done, (int)Math.Max(progressed.Total, 1)));
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                _bar?.Finish();
            }
        }

        public void Dispose() => Finish();
    }
}
