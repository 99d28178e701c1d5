namespace VideoLong.Contracts;

/// <summary>Event: a stage of a job made progress (<see cref="Done"/> of <see cref="Total"/> units: frames, regions, tokens).</summary>
public sealed record JobProgressed
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required JobStage Stage { get; init; }

    public required long Done { get; init; }

    public required long Total { get; init; }
}
