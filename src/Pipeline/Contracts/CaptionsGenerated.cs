namespace VideoLong.Contracts;

/// <summary>Event: dense captions of a video.</summary>
public sealed record CaptionsGenerated
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required IReadOnlyList<CaptionSegment> Segments { get; init; }
}
