namespace VideoLong.Contracts;

/// <summary>Event: a job failed in a stage.</summary>
public sealed record JobFaulted
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required JobStage Stage { get; init; }

    public required string ErrorMessage { get; init; }

    /// <summary>Full name of the exception type, e.g. <c>VideoLong.Ingest.DecodeException</c>.</summary>
    public required string ExceptionType { get; init; }
}
