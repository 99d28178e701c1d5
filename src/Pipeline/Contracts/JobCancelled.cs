namespace VideoLong.Contracts;

/// <summary>Event: a job was cancelled at the request of its owner.</summary>
public sealed record JobCancelled
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>The stage that was running when the job stopped; null when it had not started.</summary>
    public JobStage? Stage { get; init; }
}
