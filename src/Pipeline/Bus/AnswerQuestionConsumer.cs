using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Logging;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Orchestrates a question about a video: sends PrepareVideo, EncodeVideo and GenerateAnswer in order (request and
/// response), records states, progress, the result or the error (and so the timings per state) in the job store, and
/// publishes AnswerGenerated or JobFaulted. A redelivered command for an ended job does nothing; the stages' own step
/// ledger keeps a re-run from repeating finished stages.
/// </summary>
[PipelineRole(PipelineRoles.Orchestrate)]
public sealed partial class AnswerQuestionConsumer(IJobStore store, ModelRegistry models, PipelineOptions options,
    IRequestClient<PrepareVideo> prepare, IRequestClient<EncodeVideo> encode, IRequestClient<GenerateAnswer> answer, JobCancellations cancellations,
    ILogger<AnswerQuestionConsumer> logger) : IConsumer<AnswerQuestion>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task Consume(ConsumeContext<AnswerQuestion> context)
    {
        AnswerQuestion command = context.Message;
        CancellationToken ct = context.CancellationToken;
        JobRecord job = await store.GetAsync(command.JobId, ct);
        if (job.State is JobState.Succeeded or JobState.Faulted or JobState.Cancelled)
        {
            return;
        }

        JobStage stage = JobStage.Prepare;
        // The requests wait on a token the job's cancellation cancels, so the flow ends at once (the stage, wherever it runs, gets the same fan-out).
        await using JobCancellations.Scope watch = await cancellations.BeginAsync(command.JobId, ct);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            RequestTimeout timeout = RequestTimeout.After(ms: (int)Math.Min(int.MaxValue, options.StageTimeout.TotalMilliseconds));
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Preparing, ct);
            CompressionOptions.Validate(command.Compression, models.TextLayers(command.Model));
            ArtifactRef source = command.Source ?? await ArtifactRefs.ForFileAsync(command.SourcePath ?? throw new VideoLongException("AnswerQuestion needs Source or SourcePath."), ct);
            VideoPrepared prepared = (await prepare.GetStageResponse<PrepareVideo, VideoPrepared>(new PrepareVideo
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Source = source, Sampling = command.Sampling, FrameSize = models.TowerSize(command.Model),
            }, timeout, options.StageRetries, watch.Token)).Message;

            stage = JobStage.Encode;
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Encoding, ct);
            VideoEncoded encoded = (await encode.GetStageResponse<EncodeVideo, VideoEncoded>(new EncodeVideo
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = command.Model, Compression = command.Compression,
            }, timeout, options.StageRetries, watch.Token)).Message;

            stage = JobStage.Answer;
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Answering, ct);
            await Progress(context, command.JobId, JobStage.Answer, 0, command.Generation.MaxNewTokens);   // then tokens / max new tokens from the stage
            AnswerGenerated answered = (await answer.GetStageResponse<GenerateAnswer, AnswerGenerated>(new GenerateAnswer
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, VisualTokens = encoded.VisualTokens, Question = command.Question, Model = command.Model,
                Compression = command.Compression, Generation = command.Generation, FrameTimestamps = prepared.FrameTimestamps, DurationSeconds = prepared.DurationSeconds,
            }, timeout, options.StageRetries, watch.Token)).Message;

            var result = new VideoAnswer
            {
                Answer = answered.Answer, SupportingTimestamps = answered.SupportingTimestamps, FrameCount = prepared.FrameCount, VisualTokens = encoded.TokenCount, VisualTokensAfterDropping = answered.VisualTokensAfterDropping,
                DurationSeconds = prepared.DurationSeconds, Cached = new CacheHits(prepared.FromCache, encoded.FromCache),
            };
            await store.SucceedAsync(command.JobId, JsonSerializer.Serialize(result, Json), ct);
            await Progress(context, command.JobId, JobStage.Answer, 1, 1);
            await context.Publish(answered with { Timestamp = DateTimeOffset.UtcNow }, ct);
            LogSucceeded(logger, command.JobId.Value, clock.Elapsed.TotalSeconds, prepared.FromCache, encoded.FromCache);
        }
        catch (Exception e) when (e is JobCancelledSignal || !ct.IsCancellationRequested)
        {
            if (await JobFlow.EndAsync(store, context, command.JobId, stage, e) is { } error)
            {
                LogFaulted(logger, command.JobId.Value, stage, error.Message);
            }
            else
            {
                LogCancelled(logger, command.JobId.Value, stage, clock.Elapsed.TotalSeconds);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: answered in {Seconds:0.000} s (frames from cache: {FramesCached}, tokens from cache: {TokensCached})")]
    private static partial void LogSucceeded(ILogger logger, Guid jobId, double seconds, bool framesCached, bool tokensCached);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: cancelled during the {Stage} stage after {Seconds:0.000} s")]
    private static partial void LogCancelled(ILogger logger, Guid jobId, JobStage stage, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: the {Stage} stage faulted: {Error}")]
    private static partial void LogFaulted(ILogger logger, Guid jobId, JobStage stage, string error);

    private static Task Progress(ConsumeContext context, JobId jobId, JobStage stage, long done, long total) =>
        context.Publish(new JobProgressed { JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage, Done = done, Total = total });
}

/// <summary>Raised between stages when the job was cancelled; ends the flow with JobCancelled.</summary>
internal sealed class JobCancelledSignal : Exception;
