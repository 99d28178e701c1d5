using VideoLong.Contracts;

namespace VideoLong.Pipeline.Jobs;

/// <summary>One row of a job's step ledger (<see cref="IJobStore.GetStepsAsync"/>).</summary>
/// <param name="Completed">True once a result is stored; it is stored once, however many attempts ran.</param>
/// <param name="MessageId">The message of the attempt that holds the step now, or that completed it.</param>
/// <param name="Attempts">1 when the first attempt ran it; more after take-overs (a worker died mid-step) or retries.</param>
/// <param name="StartedAt">When the latest attempt began.</param>
/// <param name="LeaseUntil">Until when the running attempt holds the step (renewed while it works).</param>
public sealed record StepRecord(JobStage Stage, bool Completed, Guid MessageId, int Attempts, DateTimeOffset StartedAt, DateTimeOffset LeaseUntil, DateTimeOffset? CompletedAt);
