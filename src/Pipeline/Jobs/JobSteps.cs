namespace VideoLong.Pipeline.Jobs;

/// <summary>What <see cref="IJobStore.TryBeginStepAsync"/> found.</summary>
public enum StepOutcome
{
    /// <summary>The caller owns the step now and should do the work, then call <see cref="IJobStore.CompleteStepAsync"/>.</summary>
    Begun,

    /// <summary>The step finished before; <see cref="StepBegin.ResultJson"/> holds its stored result. Do not repeat it.</summary>
    AlreadyCompleted,

    /// <summary>Another attempt holds the step and its lease has not run out. Do nothing now (a retry may take over later).</summary>
    InProgress,

    /// <summary>The job is Succeeded, Faulted or Cancelled and this step never finished: nothing to do.</summary>
    JobEnded,
}

/// <summary>The answer of <see cref="IJobStore.TryBeginStepAsync"/>.</summary>
/// <param name="Attempt">1 for the first attempt at the step, 2 for the first take-over, …; 0 when not begun.</param>
public sealed record StepBegin(StepOutcome Outcome, string? ResultJson, int Attempt)
{
    public bool Begun => Outcome == StepOutcome.Begun;
}

/// <summary>The answer of <see cref="IJobStore.CompleteStepAsync"/>: the step's one stored result.</summary>
/// <param name="ResultJson">The result that is stored for the step: this call's, or the earlier one when <paramref name="AlreadyCompleted"/>.</param>
/// <param name="AlreadyCompleted">True when an earlier attempt had completed the step; its result was kept, this one dropped.</param>
public sealed record StepCompletion(string ResultJson, bool AlreadyCompleted);
