using System.Text.Json;
using MassTransit;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Orchestrates dense captions of a video: PrepareVideo and EncodeVideo through the same stage consumers and artifact
/// cache as questions (a video already encoded with the same settings is neither decoded nor encoded again), then
/// GenerateCaptions; stores the segments, publishes CaptionsGenerated, or ends the job as Cancelled or Faulted.
/// </summary>
[PipelineRole(PipelineRoles.Orchestrate)]
public sealed class CaptionVideoConsumer(IJobStore store, ModelRegistry models, PipelineOptions options,
    IRequestClient<PrepareVideo> prepare, IRequestClient<EncodeVideo> encode, IRequestClient<GenerateCaptions> captions) : IConsumer<CaptionVideo>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task Consume(ConsumeContext<CaptionVideo> context)
    {
        CaptionVideo command = context.Message;
        CancellationToken ct = context.CancellationToken;
        if ((await store.GetAsync(command.JobId, ct)).State.IsTerminal())
        {
            return;
        }

        JobStage stage = JobStage.Prepare;
        try
        {
            RequestTimeout timeout = RequestTimeout.After(ms: (int)Math.Min(int.MaxValue, options.StageTimeout.TotalMilliseconds));
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Preparing, ct);
            ArtifactRef source = command.Source ?? await ArtifactRefs.ForFileAsync(command.SourcePath ?? throw new VideoLongException("CaptionVideo needs Source or SourcePath."), ct);
            VideoPrepared prepared = (await prepare.GetStageResponse<PrepareVideo, VideoPrepared>(new PrepareVideo
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Source = source, Sampling = command.Sampling, FrameSize = models.TowerSize(command.Model),
            }, timeout, options.StageRetries, ct)).Message;

            // Checked before the model work: the segment count follows from the duration.
            CaptionGenerator.Segments(prepared.DurationSeconds, command.SegmentSeconds, command.MaxSegments);

            stage = JobStage.Encode;
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Encoding, ct);
            VideoEncoded encoded = (await encode.GetStageResponse<EncodeVideo, VideoEncoded>(new EncodeVideo
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = command.Model, Compression = command.Compression,
            }, timeout, options.StageRetries, ct)).Message;

            stage = JobStage.Answer;
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Answering, ct);
            CaptionsGenerated generated = (await captions.GetStageResponse<GenerateCaptions, CaptionsGenerated>(new GenerateCaptions
            {
                JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, VisualTokens = encoded.VisualTokens, Model = command.Model, Compression = command.Compression,
                Generation = command.Generation, FrameTimestamps = prepared.FrameTimestamps, DurationSeconds = prepared.DurationSeconds,
                SegmentSeconds = command.SegmentSeconds, MaxSegments = command.MaxSegments,
            }, timeout, options.StageRetries, ct)).Message;

            var result = new VideoCaptions
            {
                Segments = generated.Segments, SegmentSeconds = command.SegmentSeconds, DurationSeconds = prepared.DurationSeconds, FrameCount = prepared.FrameCount,
                VisualTokens = encoded.TokenCount, Cached = new CacheHits(prepared.FromCache, encoded.FromCache),
            };
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Answering, ct);   // a cancel that came during the last segment wins
            await store.SucceedAsync(command.JobId, JsonSerializer.Serialize(result, Json), ct);
            await context.Publish(generated with { Timestamp = DateTimeOffset.UtcNow }, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            await JobFlow.EndAsync(store, context, command.JobId, stage, e);
        }
    }
}

/// <summary>GenerateCaptions → one caption per segment (progress per segment, stops between segments on cancel) → CaptionsGenerated, once per job.</summary>
[PipelineRole(PipelineRoles.Answer)]
public sealed class GenerateCaptionsConsumer(CaptionGenerator generator, IdempotentStep step, IJobStore store) : IConsumer<GenerateCaptions>
{
    public async Task Consume(ConsumeContext<GenerateCaptions> context)
    {
        GenerateCaptions command = context.Message;
        CaptionsGenerated generated = await step.RunAsync(command.JobId, JobStage.Answer, context.MessageId ?? NewId.NextGuid(),
            ct => generator.GenerateAsync(command,
                (_, _) => JobFlow.ThrowIfCancelledAsync(store, command.JobId, ct),
                (done, total) => JobFlow.ProgressAsync(store, context, command.JobId, JobStage.Answer, done, total, ct), ct),
            context.CancellationToken);

        await context.RespondAsync(generated);
    }
}
