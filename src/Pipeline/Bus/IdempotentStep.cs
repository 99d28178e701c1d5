using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>Another attempt holds the step; thrown so that the retry policy tries again later.</summary>
public sealed class StepInProgressException(JobId jobId, JobStage stage)
    : Exception($"Stage {stage} of job {jobId.Value} is being run by another attempt; retrying later.");

/// <summary>The job ended (faulted or cancelled) before this step ran; nothing is done.</summary>
public sealed class JobEndedException(JobId jobId, JobStage stage)
    : VideoLongException($"Job {jobId.Value} has ended; stage {stage} was not run.");

/// <summary>
/// Runs one stage of a job at most once, through the job store's step ledger: a redelivered message (same message id)
/// or a duplicate gets the stored result back instead of repeating the work, and the first completion's result is the
/// only one ever returned.
/// </summary>
public sealed class IdempotentStep(IJobStore store)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<TResult> RunAsync<TResult>(JobId jobId, JobStage stage, Guid messageId, Func<CancellationToken, Task<TResult>> work,
        CancellationToken cancellationToken)
    {
        StepBegin begin = await store.TryBeginStepAsync(jobId, stage, messageId, cancellationToken).ConfigureAwait(false);
        switch (begin.Outcome)
        {
            case StepOutcome.AlreadyCompleted:
                return Deserialize<TResult>(begin.ResultJson!);
            case StepOutcome.InProgress:
                throw new StepInProgressException(jobId, stage);
            case StepOutcome.JobEnded:
                throw new JobEndedException(jobId, stage);
        }

        TResult result;
        try
        {
            result = await work(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.AbandonStepAsync(jobId, stage, messageId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        StepCompletion completion = await store.CompleteStepAsync(jobId, stage, messageId, JsonSerializer.Serialize(result, Json), cancellationToken).ConfigureAwait(false);
        return completion.AlreadyCompleted ? Deserialize<TResult>(completion.ResultJson) : result;
    }

    private static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Json) ?? throw new InvalidOperationException($"Stored step result is not a {typeof(T).Name}.");
}
