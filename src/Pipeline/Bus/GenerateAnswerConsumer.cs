using MassTransit;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>GenerateAnswer → the language model over the cached visual tokens → AnswerGenerated, once per job.</summary>
[PipelineRole(PipelineRoles.Answer)]
public sealed class GenerateAnswerConsumer(AnswerGenerator generator, IdempotentStep step) : IConsumer<GenerateAnswer>
{
    public async Task Consume(ConsumeContext<GenerateAnswer> context)
    {
        GenerateAnswer command = context.Message;
        AnswerGenerated answer = await step.RunAsync(command.JobId, JobStage.Answer, context.MessageId ?? NewId.NextGuid(),
            ct => generator.GenerateAsync(command, ct), context.CancellationToken);

        await context.RespondAsync(answer);
    }
}
