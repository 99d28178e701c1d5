using MassTransit;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>PrepareVideo → probe, sample and decode (or reuse cached frames) → VideoPrepared, once per job.</summary>
[PipelineRole(PipelineRoles.Prepare)]
public sealed class PrepareVideoConsumer(FramePreparer preparer, IdempotentStep step, IJobStore store) : IConsumer<PrepareVideo>
{
    public async Task Consume(ConsumeContext<PrepareVideo> context)
    {
        PrepareVideo command = context.Message;
        VideoPrepared prepared = await step.RunAsync(command.JobId, JobStage.Prepare, context.MessageId ?? NewId.NextGuid(),
            ct => preparer.PrepareAsync(command, async (done, total) =>
            {
                await store.ReportProgressAsync(command.JobId, JobStage.Prepare, done, total, ct);
                await context.Publish(new JobProgressed { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Stage = JobStage.Prepare, Done = done, Total = total }, ct);
            }, ct),
            context.CancellationToken);

        await context.RespondAsync(prepared);
    }
}
