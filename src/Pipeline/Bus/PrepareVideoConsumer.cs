using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// PrepareVideo → probe, sample and decode (or reuse cached frames) → VideoPrepared, once per job; a cancelled job stops
/// the decode loop. Progress (frames decoded) is throttled.
/// </summary>
[PipelineRole(PipelineRoles.Prepare)]
public sealed partial class PrepareVideoConsumer(FramePreparer preparer, IdempotentStep step, IJobStore store, JobCancellations cancellations,
    PipelineOptions options, ILogger<PrepareVideoConsumer> logger) : IConsumer<PrepareVideo>
{
    public async Task Consume(ConsumeContext<PrepareVideo> context)
    {
        PrepareVideo command = context.Message;
        var watch = Stopwatch.StartNew();
        VideoPrepared prepared;
        try
        {
            prepared = await cancellations.RunAsync(command.JobId, JobStage.Prepare, ct => step.RunAsync(command.JobId, JobStage.Prepare, context.MessageId ?? NewId.NextGuid(),
                stepCt =>
                {
                    var sinceProgress = Stopwatch.StartNew();
                    return preparer.PrepareAsync(command, async (done, total) =>
                    {
                        if (done == 1 || done == total || sinceProgress.Elapsed >= options.ProgressInterval)
                        {
                            sinceProgress.Restart();
                            await JobFlow.ProgressAsync(store, context, command.JobId, JobStage.Prepare, done, total, stepCt);
                        }
                    }, stepCt);
                }, ct), context.CancellationToken);
        }
        catch (StageCancelledException)
        {
            LogCancelled(logger, command.JobId.Value, JobStage.Prepare, watch.Elapsed.TotalSeconds);
            throw;
        }

        LogPrepared(logger, command.JobId.Value, JobStage.Prepare, prepared.FrameCount, prepared.FromCache, watch.Elapsed.TotalSeconds);
        await context.RespondAsync(prepared);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage: {Frames} frames (from cache: {FromCache}) in {Seconds:0.000} s")]
    private static partial void LogPrepared(ILogger logger, Guid jobId, JobStage stage, int frames, bool fromCache, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage cancelled after {Seconds:0.000} s")]
    private static partial void LogCancelled(ILogger logger, Guid jobId, JobStage stage, double seconds);
}
