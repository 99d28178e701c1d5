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
        var dropLayers = new Option<string?>("--drop-layers") { Description = "Video-level dropping after these decoder layers, e.g. 4,18 (off by default)." };
        var dropRatios = new Option<string?>("--drop-ratios") { Description = "Kept fraction of visual tokens, ρ_0 = 1 then one per drop layer, e.g. 1,0.75,0.25." };
        var dropMode = new Option<string>("--drop-mode") { Description = "uniform | attention | uniform0_attention.", DefaultValueFactory = _ => "uniform0_attention" };
        var temperature = new Option<double?>("--temperature") { Description = "Sample with this temperature (default: greedy)." };
        var seed = new Option<int?>("--seed") { Description = "Seed for sampling." };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Do not stop at end-of-turn tokens (generate --max-new-tokens)." };
        var v2peStride = new Option<int?>("--v2pe-stride") { Description = "V2PE: visual tokens advance by stride/256 positions (64 at inference; 256 = standard)." };
        var command = new Command("ask", "Answer a question about a video through the in-process pipeline.")
        {
            file, question, model, tokenizer, frames, tokensPerFrame, maxNew, data, json, dropLayers, dropRatios, dropMode, v2peStride, ignoreEos, temperature, seed,
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

            var compression = new CompressionSettings
            {
                TokensPerFrame = tpf,
                DropLayers = Language.Models.LlavaOnevision.VlmOptions.ParseList<int>(parse.GetValue(dropLayers), "--drop-layers"),
                DropRatios = Language.Models.LlavaOnevision.VlmOptions.ParseList<double>(parse.GetValue(dropRatios), "--drop-ratios"),
                DropMode = CompressionOptions.ParseMode(parse.GetValue(dropMode)!),
                V2peStride = parse.GetValue(v2peStride),
            };
            CompressionOptions.Validate(compression, Language.Models.LlavaOnevision.LlavaOnevisionConfig.Load(modelDir).TextConfig.NumHiddenLayers);
            bool stream = !parse.GetValue(json);
            if (parse.GetValue(temperature) is { } temp && !(temp > 0 && temp <= 100))
            {
                throw new VideoLongException($"Invalid --temperature {temp}: must be above 0 and at most 100 (leave it out for greedy decoding).");
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
                    Compression = compression,
                    Generation = new GenerationSettings { MaxNewTokens = parse.GetValue(maxNew), IgnoreEos = parse.GetValue(ignoreEos), Temperature = parse.GetValue(temperature) ?? 0, Seed = parse.GetValue(seed) },
                };
                IJobStore store = services.GetRequiredService<IJobStore>();
                JobId jobId = await store.CreateAsync(nameof(AnswerQuestion), System.Text.Json.JsonSerializer.Serialize(request with { JobId = default }), Environment.UserName, cancellationToken).ConfigureAwait(false);
                JobEvents events = services.GetRequiredService<JobEvents>();
                using var progress = new StageProgress(cli, jobId);
                using var printer = new TokenPrinter(cli, jobId, progress, stream);
                events.Progressed += progress.Report;
                events.TokensGenerated += printer.Add;
                Task<object> ended = events.WhenEndedAsync(jobId, cancellationToken);
                await bus.Publish(request with { JobId = jobId }, cancellationToken).ConfigureAwait(false);
                object ending;
                try
                {
                    ending = await ended.ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // Ctrl-C: the job is cancelled too (its running stage stops), so the store does not keep it running.
                    using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await services.GetRequiredService<JobCanceller>().CancelAsync(jobId, grace.Token).ConfigureAwait(false);
                    throw;
                }

                events.Progressed -= progress.Report;
                progress.Finish();
                if (ending is JobFaulted faulted)
                {
                    events.TokensGenerated -= printer.Add;
                    throw new VideoLongException($"{faulted.Stage} failed: {faulted.ErrorMessage}");
                }

                if (ending is JobCancelled)
                {
                    events.TokensGenerated -= printer.Add;
                    throw new VideoLongException($"Job {jobId.Value} was cancelled.");
                }

                await printer.WaitForFinalAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                events.TokensGenerated -= printer.Add;
                await WriteAsync(cli, store, jobId, parse.GetValue(json), printer.Printed, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static async Task WriteAsync(CliContext cli, IJobStore store, JobId jobId, bool json, bool streamed, CancellationToken cancellationToken)
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
                answer.VisualTokensAfterDropping,
                answer.DurationSeconds,
                timings = timings.Select(t => new { state = t.State, seconds = t.Duration?.TotalSeconds }),
            }).ConfigureAwait(false);
            return;
        }

        // The answer was printed as it streamed; otherwise (nothing streamed, e.g. a stored answer) it is printed now.
        await cli.Out.WriteLineAsync(streamed ? "" : answer.Answer).ConfigureAwait(false);
        await cli.Out.WriteLineAsync($"supporting frames at: {string.Join(", ", answer.SupportingTimestamps.Select(s => SamplingArguments.Seconds(s) + " s"))}").ConfigureAwait(false);
        if (answer.Cached.Frames || answer.Cached.Tokens)
        {
            await cli.Error.WriteLineAsync($"from the artifact cache: {(answer.Cached.Frames ? "frames" : "")}{(answer.Cached.Frames && answer.Cached.Tokens ? ", " : "")}{(answer.Cached.Tokens ? "visual tokens" : "")}").ConfigureAwait(false);
        }
    }

    /// <summary>Prints the job's answer pieces to stdout in sequence as they arrive (not with --json); the first one ends the progress bars.</summary>
    private sealed class TokenPrinter(CliContext cli, JobId jobId, StageProgress progress, bool print) : IDisposable
    {
        private readonly AnswerTokenSequencer _sequencer = new();
        private readonly Lock _lock = new();
        private readonly TaskCompletionSource _final = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>True once some answer text went to stdout.</summary>
        public bool Printed { get; private set; }

        public void Add(AnswerTokensGenerated piece)
        {
            if (piece.JobId != jobId)
            {
                return;
            }

            lock (_lock)
            {
                foreach (AnswerTokensGenerated ready in _sequencer.Add(piece))
                {
                    if (print && ready.Text.Length > 0)
                    {
                        if (!Printed)
                        {
                            progress.Silence();
                        }

                        cli.Out.Write(Printed ? ready.Text : ready.Text.TrimStart());
                        cli.Out.Flush();
                        Printed = true;
                    }
                }

                if (_sequencer.Completed)
                {
                    _final.TrySetResult();
                }
            }
        }

        /// <summary>Waits a little for the final piece (events may still be on their way when the job ends).</summary>
        public async Task WaitForFinalAsync(TimeSpan grace, CancellationToken cancellationToken)
        {
            try
            {
                await _final.Task.WaitAsync(grace, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A stored answer (a redelivered job) streams nothing.
            }
        }

        public void Dispose() => _final.TrySetResult();
    }

    /// <summary>One progress bar per stage, drawn from the job's JobProgressed events.</summary>
    private sealed class StageProgress(CliContext cli, JobId jobId) : IDisposable
    {
        private readonly Lock _lock = new();
        private JobStage? _stage;
        private ProgressBar? _bar;
        private bool _silenced;

        public void Report(JobProgressed progressed)
        {
            if (progressed.JobId != jobId)
            {
                return;
            }

            lock (_lock)
            {
                if (_silenced)
                {
                    return;
                }

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

        /// <summary>Finishes the bar and draws no more (the answer text now streams to the terminal).</summary>
        public void Silence()
        {
            lock (_lock)
            {
                _bar?.Finish();
                _silenced = true;
            }
        }

        public void Dispose() => Finish();
    }
}
