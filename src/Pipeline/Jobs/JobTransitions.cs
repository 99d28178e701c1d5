namespace VideoLong.Pipeline.Jobs;

/// <summary>The allowed moves between <see cref="JobState"/>s, in one place.</summary>
public static class JobTransitions
{
    /// <summary>True for Succeeded, Faulted and Cancelled: states a job never leaves.</summary>
    public static bool IsTerminal(this JobState state) =>
        state is JobState.Succeeded or JobState.Faulted or JobState.Cancelled;

    /// <summary>
    /// True when a job in <paramref name="from"/> may move to <paramref name="to"/>: one step forward along
    /// Queued → Preparing → Encoding → Answering → Succeeded, or from any non-terminal state to Faulted or Cancelled.
    /// </summary>
    public static bool IsAllowed(JobState from, JobState to) => (from, to) switch
    {
        (JobState.Queued, JobState.Preparing) => true,
        (JobState.Preparing, JobState.Encoding) => true,
        (JobState.Encoding, JobState.Answering) => true,
        (JobState.Answering, JobState.Succeeded) => true,
        (_, JobState.Faulted or JobState.Cancelled) => !from.IsTerminal(),
        _ => false,
    };

    /// <summary>The states <paramref name="from"/> may move to, for error messages.</summary>
    public static IReadOnlyList<JobState> AllowedFrom(JobState from) =>
        Enum.GetValues<JobState>().Where(to => IsAllowed(from, to)).ToArray();
}
