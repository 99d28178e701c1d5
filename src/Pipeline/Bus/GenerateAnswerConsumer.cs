using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// GenerateAnswer → the language model over the cached visual tokens → AnswerGenerated, once per job. The text is
/// published as it is generated (coalesced AnswerTokensGenerated), progress (tokens / max new tokens) goes to the store
/// and out as JobProgressed (throttled), and a cancelled job stops generation between tokens.
/// </summary>
[PipelineRole(PipelineRoles.Answer)]
public sealed partial class GenerateAnswerConsumer(AnswerGenerator generator, IdempotentStep step, IJobStore store, JobCancellations cancellations,
    PipelineOptions options, ILogger<GenerateAnswerConsumer> logger) : IConsumer<GenerateAnswer>
{
    public async Task Consume(ConsumeContext<GenerateAnswer> context)
    {
        GenerateAnswer command = context.Message;
        var watch = Stopwatch.StartNew();
        double? firstPiece = null;
        int tokens = 0;
        LogStarted(logger, command.JobId.Value, JobStage.Answer);
        try
        {
            AnswerGenerated answer = await cancellations.RunAsync(command.JobId, JobStage.Answer, ct => step.RunAsync(command.JobId, JobStage.Answer,
                context.MessageId ?? NewId.NextGuid(), async stepCt =>
                {
                    var pieces = new AnswerTokenCoalescer(command.JobId, options.TokenFlushInterval, options.TokenFlushTokens);
                    long total = command.Generation.MaxNewTokens;
                    var sinceProgress = Stopwatch.StartNew();
                    AnswerGenerated generated = await generator.GenerateAsync(command, async (text, count) =>
                    {
                        tokens = count;
                        if (pieces.Add(text, count) is { } piece)
                        {
                            firstPiece ??= watch.Elapsed.TotalSeconds;
                            await context.Publish(piece, stepCt);
                        }

                        if (sinceProgress.Elapsed >= options.ProgressInterval)
                        {
                            sinceProgress.Restart();
                            await JobFlow.ProgressAsync(store, context, command.JobId, JobStage.Answer, count, total, stepCt);
                        }
                    }, stepCt);
                    await context.Publish(pieces.Complete(), stepCt);
                    await JobFlow.ProgressAsync(store, context, command.JobId, JobStage.Answer, pieces.Tokens, total, stepCt);
                    return generated;
                }, ct), context.CancellationToken);

            LogAnswered(logger, command.JobId.Value, JobStage.Answer, tokens, watch.Elapsed.TotalSeconds, firstPiece);
            await context.RespondAsync(answer);
        }
        catch (StageCancelledException)
        {
            LogCancelled(logger, command.JobId.Value, JobStage.Answer, tokens, watch.Elapsed.TotalSeconds);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId}: {Stage} stage started")]
    private static partial void LogStarted(ILogger logger, Guid jobId, JobStage stage);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage generated {Tokens} tokens in {Seconds:0.000} s (first text after {FirstPieceSeconds} s)")]
    private static partial void LogAnswered(ILogger logger, Guid jobId, JobStage stage, int tokens, double seconds, double? firstPieceSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Stage} stage cancelled after {Tokens} tokens and {Seconds:0.000} s")]
    private static partial void LogCancelled(ILogger logger, Guid jobId, JobStage stage, int tokens, double seconds);
}
