using VideoLong.Contracts;

namespace VideoLong.Pipeline.Jobs;

/// <summary>
/// The durable record of every job: state, progress, result or error, timings, the cancellation flag, and the
/// idempotency ledger that makes consumers safe under redelivery. Every method that names a job throws
/// <see cref="JobNotFoundException"/> when the store has no such job.
/// </summary>
public interface IJobStore
{
    /// <summary>Creates a job in <see cref="JobState.Queued"/> and returns its new id.</summary>
    /// <param name="kind">What the job does, e.g. <c>AnswerQuestion</c>; 1 to 64 characters.</param>
    /// <param name="requestJson">The request as JSON (must parse).</param>
    /// <param name="owner">An API key's id or a user name; never the secret itself.</param>
    Task<JobId> CreateAsync(string kind, string requestJson, string? owner, CancellationToken cancellationToken);

    Task<JobRecord> GetAsync(JobId jobId, CancellationToken cancellationToken);

    /// <summary>A page of jobs, newest first.</summary>
    Task<IReadOnlyList<JobRecord>> ListAsync(JobListQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Moves the job to <paramref name="to"/> when <see cref="JobTransitions.IsAllowed"/> permits it, and closes the
    /// timing of the state it leaves. Asking for the state the job is already in (not a terminal one) changes nothing
    /// and returns false, so a redelivered message can repeat its transition.
    /// </summary>
    /// <returns>True when the state changed.</returns>
    /// <exception cref="InvalidJobTransitionException">Any other move, e.g. Queued → Answering or out of a terminal state.</exception>
    Task<bool> TransitionAsync(JobId jobId, JobState to, CancellationToken cancellationToken);

    /// <summary>Records the latest progress of a stage and renews the lease of that stage's running step.</summary>
    /// <returns>False (and nothing recorded) when the job has already ended.</returns>
    Task<bool> ReportProgressAsync(JobId jobId, JobStage stage, long done, long total, CancellationToken cancellationToken);

    /// <summary>Stores the job's result without changing its state (e.g. partial results).</summary>
    /// <exception cref="JobStateException">The job is Faulted or Cancelled.</exception>
    Task StoreResultAsync(JobId jobId, string resultJson, CancellationToken cancellationToken);

    /// <summary>Stores the result and moves Answering → Succeeded in one transaction.</summary>
    Task SucceedAsync(JobId jobId, string resultJson, CancellationToken cancellationToken);

    /// <summary>Stores the error and moves the job to Faulted in one transaction.</summary>
    /// <exception cref="InvalidJobTransitionException">The job has already ended.</exception>
    Task FaultAsync(JobId jobId, JobError error, CancellationToken cancellationToken);

    /// <summary>When the job entered and left each state it has been in, in order.</summary>
    Task<IReadOnlyList<StageTiming>> GetTimingsAsync(JobId jobId, CancellationToken cancellationToken);

    /// <summary>Sets the cancellation flag that workers read; the worker that sees it moves the job to Cancelled.</summary>
    /// <returns>False when the job has already ended (the flag is not set).</returns>
    Task<bool> RequestCancellationAsync(JobId jobId, CancellationToken cancellationToken);

    Task<bool> IsCancellationRequestedAsync(JobId jobId, CancellationToken cancellationToken);

    /// <summary>
    /// Claims one stage of a job for the message <paramref name="messageId"/>. Exactly one of several concurrent or
    /// repeated attempts gets <see cref="StepOutcome.Begun"/>; a finished step answers
    /// <see cref="StepOutcome.AlreadyCompleted"/> with its stored result, however often the message is redelivered.
    /// A begun step whose lease has run out (its worker died) may be begun again.
    /// </summary>
    Task<StepBegin> TryBeginStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a begun step's result. The first completion wins: a later one (a duplicate attempt) keeps the stored
    /// result and gets it back with <see cref="StepCompletion.AlreadyCompleted"/> set.
    /// </summary>
    /// <exception cref="InvalidOperationException">The step was never begun.</exception>
    Task<StepCompletion> CompleteStepAsync(JobId jobId, JobStage stage, Guid messageId, string resultJson, CancellationToken cancellationToken);

    /// <summary>Gives a begun step back (its attempt failed), so that a retry may begin it at once.</summary>
    /// <returns>False when the step is not held by <paramref name="messageId"/> (nothing changed).</returns>
    Task<bool> AbandonStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken);

    /// <summary>Extends the lease of a running step held by <paramref name="messageId"/> (its worker is alive and still working).</summary>
    /// <returns>False when the step is not running under <paramref name="messageId"/> any more (taken over, completed or abandoned).</returns>
    Task<bool> RenewStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken);

    /// <summary>The job's step ledger: one row per stage that was ever begun, in the order they were begun.</summary>
    Task<IReadOnlyList<StepRecord>> GetStepsAsync(JobId jobId, CancellationToken cancellationToken);
}
