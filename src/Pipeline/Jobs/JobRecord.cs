using VideoLong.Contracts;

namespace VideoLong.Pipeline.Jobs;

/// <summary>A job as the store holds it.</summary>
public sealed record JobRecord
{
    public required JobId Id { get; init; }

    /// <summary>What the job does, e.g. <c>AnswerQuestion</c> (the command's name).</summary>
    public required string Kind { get; init; }

    public required JobState State { get; init; }

    /// <summary>Who submitted it: an API key's id or a user name (never the key itself); null when anonymous.</summary>
    public string? Owner { get; init; }

    public required string RequestJson { get; init; }

    public string? ResultJson { get; init; }

    public JobError? Error { get; init; }

    /// <summary>The latest progress report; null before the first one.</summary>
    public JobProgress? Progress { get; init; }

    /// <summary>Set by <see cref="IJobStore.RequestCancellationAsync"/>; workers read it and stop.</summary>
    public bool CancellationRequested { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>How far a stage has come: <see cref="Done"/> of <see cref="Total"/> units (frames, regions, tokens).</summary>
public sealed record JobProgress(JobStage Stage, long Done, long Total);

/// <summary>Why a job faulted.</summary>
public sealed record JobError(JobStage? Stage, string Message, string ExceptionType);

/// <summary>When a job entered and left one state; <see cref="EndedAt"/> is null while it is still there.</summary>
public sealed record StageTiming(JobState State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt)
{
    public TimeSpan? Duration => EndedAt - StartedAt;
}

/// <summary>A page of <see cref="IJobStore.ListAsync"/>: newest first, optionally one state or one owner.</summary>
public sealed record JobListQuery
{
    public const int MaxLimit = 500;

    public JobState? State { get; init; }

    public string? Owner { get; init; }

    /// <summary>Jobs to skip (newest first).</summary>
    public int Offset { get; init; }

    /// <summary>Jobs to return, 1 to <see cref="MaxLimit"/>.</summary>
    public int Limit { get; init; } = 50;
}
