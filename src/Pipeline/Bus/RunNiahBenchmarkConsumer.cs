using System.Text.Json;
using MassTransit;
using VideoLong.Contracts;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Jobs;
using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// RunNiahBenchmark as a job: a thin adapter over <see cref="NiahBenchmark"/>. States follow the run (Preparing: model and
/// config; Encoding: haystack and needles; Answering: trials), progress goes out as JobProgressed, and the job's result
/// is the run's summary (overall score, cells, output files).
/// </summary>
[PipelineRole(PipelineRoles.Answer)]
public sealed class RunNiahBenchmarkConsumer(IJobStore store, ModelRegistry models, ArtifactCache cache, PipelineOptions options) : IConsumer<RunNiahBenchmark>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task Consume(ConsumeContext<RunNiahBenchmark> context)
    {
        RunNiahBenchmark command = context.Message;
        CancellationToken ct = context.CancellationToken;
        if ((await store.GetAsync(command.JobId, ct)).State.IsTerminal())
        {
            return;
        }

        JobStage stage = JobStage.Prepare;
        try
        {
            await MoveToAsync(command.JobId, JobState.Preparing, ct);
            NiahConfig config = Load(command);
            string output = command.OutputDirectory ?? Path.Combine(options.DataDirectory, "niah", command.JobId.Value.ToString("N"));
            var progress = new JobProgress(this, context, command.JobId);
            (NiahRunResult result, IReadOnlyList<string> files) = await new NiahBenchmark(models, cache).RunAsync(config, new NiahRunOptions
            {
                Quick = command.Quick, OutputDirectory = output, Model = models.Resolve(command.Model), Seed = command.Seed,
            }, progress, ct);
            stage = progress.Stage;
            await progress.DrainAsync();
            await MoveToAsync(command.JobId, JobState.Answering, ct);
            await store.SucceedAsync(command.JobId, JsonSerializer.Serialize(new NiahJobResult(result.Name, result.Overall, result.Seed, result.Quick, result.Trials.Count,
                result.Cells, result.Encoding.HaystackFromCache, output, files), Json), ct);
            await context.Publish(new JobProgressed { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Stage = JobStage.Answer, Done = result.Trials.Count, Total = result.Trials.Count }, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            string message = e.Message, type = e.GetType().FullName ?? e.GetType().Name;
            await store.FaultAsync(command.JobId, new JobError(stage, message, type), CancellationToken.None);
            await context.Publish(new JobFaulted { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage, ErrorMessage = message, ExceptionType = type }, CancellationToken.None);
        }
    }

    private static NiahConfig Load(RunNiahBenchmark command)
    {
        NiahConfig config = (command.ConfigPath, command.ConfigJson) switch
        {
            ({ } path, null) => NiahConfig.Load(path),
            (null, { } json) => NiahConfig.Parse(json, "/"),
            _ => throw new VideoLongException("RunNiahBenchmark needs exactly one of ConfigPath and ConfigJson."),
        };
        if (command.Grid is { } grid)
        {
            config = config with
            {
                Haystack = new NiahHaystack { Video = grid.Haystack.Uri.IsFile ? grid.Haystack.Uri.LocalPath : throw new VideoLongException("NIAH grids read file:// haystacks only.") },
                FrameCounts = grid.FrameCounts,
                FrameRange = null,
                Depths = grid.Depths,
                DepthSteps = null,
                Compression = grid.Compression,
            };
            config.Validate();
        }

        return config;
    }

    private async Task MoveToAsync(JobId jobId, JobState to, CancellationToken cancellationToken)
    {
        JobState state = (await store.GetAsync(jobId, cancellationToken)).State;
        foreach (JobState next in new[] { JobState.Preparing, JobState.Encoding, JobState.Answering })
        {
            if (state < next && next <= to)
            {
                await store.TransitionAsync(jobId, next, cancellationToken);
                state = next;
            }
        }
    }

    /// <summary>Harness progress → job states and JobProgressed events (model: prepare; haystack/needles: encode; trials: answer).</summary>
    private sealed class JobProgress(RunNiahBenchmarkConsumer owner, ConsumeContext context, JobId jobId) : IProgress<NiahProgress>
    {
        private readonly Lock _lock = new();
        private Task _pending = Task.CompletedTask;

        public JobStage Stage { get; private set; } = JobStage.Prepare;

        public void Report(NiahProgress value)
        {
            JobStage stage = value.Stage switch
            {
                "model" => JobStage.Prepare,
                "trials" => JobStage.Answer,
                _ => JobStage.Encode,
            };
            lock (_lock)
            {
                Stage = stage;
                JobState state = stage switch { JobStage.Prepare => JobState.Preparing, JobStage.Encode => JobState.Encoding, _ => JobState.Answering };
                _pending = _pending.ContinueWith(async _ =>
                {
                    await owner.MoveToAsync(jobId, state, CancellationToken.None);
                    await context.Publish(new JobProgressed { JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage, Done = value.Done, Total = Math.Max(1, value.Total) });
                }, TaskScheduler.Default).Unwrap();
            }
        }

        public Task DrainAsync()
        {
            lock (_lock)
            {
                return _pending;
            }
        }
    }
}

/// <summary>The job-store result of a NIAH job.</summary>
public sealed record NiahJobResult(string Name, double Overall, long Seed, bool Quick, int Trials, IReadOnlyList<NiahCell> Cells, bool HaystackFromCache,
    string OutputDirectory, IReadOnlyList<string> Files);

/// <summary>One benchmark at a time per process: it holds the model for its whole grid.</summary>
public sealed class RunNiahBenchmarkConsumerDefinition(PipelineOptions options) : StageConsumerDefinition<RunNiahBenchmarkConsumer>(options, 1)
{
}
