using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>Another attempt holds the step (kept for callers that prefer failing to waiting).</summary>
public sealed class StepInProgressException(JobId jobId, JobStage stage)
    : Exception($"Stage {stage} of job {jobId.Value} is being run by another attempt; retrying later.");

/// <summary>The job ended (faulted or cancelled) before this step ran; nothing is done.</summary>
public sealed class JobEndedException(JobId jobId, JobStage stage)
    : VideoLongException($"Job {jobId.Value} has ended; stage {stage} was not run.");

/// <summary>
/// Runs one stage of a job at most once, through the job store's step ledger: a redelivered message (same message id)
/// or a duplicate gets the stored result back instead of repeating the work, and the first completion's result is the
/// only one ever returned. While another attempt holds the step, this one waits (polling the ledger) until that attempt
/// completes or its lease runs out; a running step renews its own lease every third of the lease, so only a dead
/// worker's step is ever taken over, after at most one lease.
/// </summary>
public sealed class IdempotentStep(IJobStore store, PipelineOptions? options = null, ILogger<IdempotentStep>? logger = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly TimeSpan _lease = options?.StepLease ?? TimeSpan.FromSeconds(60);
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public async Task<TResult> RunAsync<TResult>(JobId jobId, JobStage stage, Guid messageId, Func<CancellationToken, Task<TResult>> work,
        CancellationToken cancellationToken)
    {
        StepBegin begin;
        while (true)
        {
            begin = await store.TryBeginStepAsync(jobId, stage, messageId, cancellationToken).ConfigureAwait(false);
            if (begin.Outcome != StepOutcome.InProgress)
            {
                break;
            }

            // Another attempt holds the step: it finishes (AlreadyCompleted next time) or, dead, lets its lease run out.
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        switch (begin.Outcome)
        {
            case StepOutcome.AlreadyCompleted:
                StepLog.AlreadyCompleted(_logger, stage, jobId.Value);
                return Deserialize<TResult>(begin.ResultJson!);
            case StepOutcome.JobEnded:
                throw new JobEndedException(jobId, stage);
        }

        StepLog.Begun(_logger, stage, jobId.Value, begin.Attempt, messageId);
        TResult result;
        using (var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            Task renewing = RenewAsync(jobId, stage, messageId, heartbeat.Token);
            try
            {
                result = await work(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await heartbeat.CancelAsync().ConfigureAwait(false);
                await renewing.ConfigureAwait(false);
                await store.AbandonStepAsync(jobId, stage, messageId, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            await heartbeat.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
        }

        StepCompletion completion = await store.CompleteStepAsync(jobId, stage, messageId, JsonSerializer.Serialize(result, Json), cancellationToken).ConfigureAwait(false);
        StepLog.Completed(_logger, stage, jobId.Value, begin.Attempt, completion.AlreadyCompleted);
        return completion.AlreadyCompleted ? Deserialize<TResult>(completion.ResultJson) : result;
    }

    private TimeSpan PollInterval => TimeSpan.FromTicks(Math.Clamp(_lease.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 2));

    // The heartbeat: a live attempt keeps its step; a failed renewal is retried at the next beat (the lease has slack).
    private async Task RenewAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken)
    {
        TimeSpan beat = _lease / 3;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(beat, cancellationToken).ConfigureAwait(false);
                if (!await store.RenewStepAsync(jobId, stage, messageId, cancellationToken).ConfigureAwait(false))
                {
                    return;                                             // taken over, completed or ended: nothing to hold
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException)
            {
                StepLog.RenewalFailed(_logger, stage, jobId.Value, e.Message);
            }
        }
    }

    private static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Json) ?? throw new InvalidOperationException($"Stored step result is not a {typeof(T).Name}.");
}

/// <summary>The step ledger's log lines (a worker's record of what it began, took over and completed).</summary>
internal static partial class StepLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Step {Stage} of job {JobId}: already completed, stored result returned")]
    public static partial void AlreadyCompleted(ILogger logger, JobStage stage, Guid jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Step {Stage} of job {JobId} begun (attempt {Attempt}, message {MessageId})")]
    public static partial void Begun(ILogger logger, JobStage stage, Guid jobId, int attempt, Guid messageId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Step {Stage} of job {JobId} completed (attempt {Attempt}, duplicate {Duplicate})")]
    public static partial void Completed(ILogger logger, JobStage stage, Guid jobId, int attempt, bool duplicate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Step {Stage} of job {JobId}: lease renewal failed ({Reason}); retrying at the next beat")]
    public static partial void RenewalFailed(ILogger logger, JobStage stage, Guid jobId, string reason);
}
