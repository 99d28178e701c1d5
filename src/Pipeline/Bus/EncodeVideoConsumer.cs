using MassTransit;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>EncodeVideo → vision tower and projector (skipped when the tokens are cached) → VideoEncoded, once per job.</summary>
[PipelineRole(PipelineRoles.Encode)]
public sealed class EncodeVideoConsumer(VideoTokenEncoder encoder, IdempotentStep step) : IConsumer<EncodeVideo>
{
    public async Task Consume(ConsumeContext<EncodeVideo> context)
    {
        EncodeVideo command = context.Message;
        VideoEncoded encoded = await step.RunAsync(command.JobId, JobStage.Encode, context.MessageId ?? NewId.NextGuid(),
            ct => encoder.EncodeAsync(command, ct), context.CancellationToken);

        await context.Publish(new JobProgressed { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Stage = JobStage.Encode, Done = encoded.TokenCount, Total = encoded.TokenCount });
        await context.RespondAsync(encoded);
    }
}
