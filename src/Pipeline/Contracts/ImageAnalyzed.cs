namespace VideoLong.Contracts;

/// <summary>Event: the per-region results of a large-image analysis.</summary>
public sealed record ImageAnalyzed
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required IReadOnlyList<RegionResult> Regions { get; init; }
}
