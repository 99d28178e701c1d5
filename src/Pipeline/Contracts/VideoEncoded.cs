namespace VideoLong.Contracts;

/// <summary>Event: frames were turned into visual tokens, stored as an artifact.</summary>
public sealed record VideoEncoded
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef VisualTokens { get; init; }

    public required int TokenCount { get; init; }

    /// <summary>True when the tokens came from the artifact cache (no decode or encode work).</summary>
    public bool FromCache { get; init; }
}
