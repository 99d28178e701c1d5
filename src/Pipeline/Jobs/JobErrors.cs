using VideoLong.Contracts;

namespace VideoLong.Pipeline.Jobs;

/// <summary>No job with <see cref="JobId"/> is in the store.</summary>
public sealed class JobNotFoundException(JobId jobId)
    : VideoLongException($"Job {jobId.Value} was not found in the job store.")
{
    public JobId JobId { get; } = jobId;
}

/// <summary>The job exists, but its state does not allow the requested operation.</summary>
public class JobStateException(JobId jobId, JobState state, string message) : VideoLongException(message)
{
    public JobId JobId { get; } = jobId;

    public JobState State { get; } = state;
}

/// <summary>A state change that <see cref="JobTransitions.IsAllowed"/> refuses, e.g. Queued → Answering.</summary>
public sealed class InvalidJobTransitionException(JobId jobId, JobState from, JobState to)
    : JobStateException(jobId, from, FormatMessage(jobId, from, to))
{
    public JobState From { get; } = from;

    public JobState To { get; } = to;

    private static string FormatMessage(JobId jobId, JobState from, JobState to)
    {
        IReadOnlyList<JobState> allowed = JobTransitions.AllowedFrom(from);
        string accepted = allowed.Count == 0 ? "none: the job has finished" : string.Join(", ", allowed);
        return $"Job {jobId.Value} cannot move from {from} to {to}; allowed from {from}: {accepted}.";
    }
}
