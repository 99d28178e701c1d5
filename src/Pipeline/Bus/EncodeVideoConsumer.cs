using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// EncodeVideo → vision tower and projector (skipped when the tokens are cached) → VideoEncoded, once per job; a
/// cancelled job stops the tower between frame chunks.
/// </summary>
[PipelineRole(PipelineRoles.Encode)]
public sealed partial class EncodeVideoConsumer(VideoTokenEncoder encoder, IdempotentStep step, JobCancellations cancellations, ILogger<EncodeVideoConsumer> logger)
    : IConsumer<EncodeVideo>
{
    public async Task Consume(ConsumeContext<EncodeVideo> context)
    {
        EncodeVideo command = context.Message;
        var watch = Stopwatch.StartNew();
        VideoEncoded encoded;
        try
        {
            encoded = await cancellations.RunAsync(command.JobId, JobStage.Encode, ct => step.RunAsync(command.JobId, JobStage.Encode, context.MessageId ?? NewId.NextGuid(),
                stepCt => encoder.EncodeAsync(command, stepCt), ct), context.CancellationToken);
        }
        catch (StageCancelledException)
        {
            LogCancelled(logger, command.JobId.Value, JobStage.Encode, watch.Elapsed.TotalSeconds);
            throw;
        }

        LogEncoded(logger, command.JobId.Value, JobStage.Encode, command.FrameCount, encoded.TokenCount, encoded.FromCache, watch.Elapsed.TotalSeconds);
        await context.Publish(new JobProgressed { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Stage = JobStage.Encode, Done = encoded.TokenCount, Total = encoded.TokenCount });
        await context.RespondAsync(encoded);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage: {Frames} frames → {Tokens} visual tokens (from cache: {FromCache}) in {Seconds:0.000} s")]
    private static partial void LogEncoded(ILogger logger, Guid jobId, JobStage stage, int frames, int tokens, bool fromCache, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage cancelled after {Seconds:0.000} s")]
    private static partial void LogCancelled(ILogger logger, Guid jobId, JobStage stage, double seconds);
}
