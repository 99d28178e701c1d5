namespace VideoLong.Contracts;

/// <summary>Event: a video was sampled; its frames are stored as an artifact.</summary>
public sealed record VideoPrepared
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef Frames { get; init; }

    public required int FrameCount { get; init; }

    public required double DurationSeconds { get; init; }

    /// <summary>Presentation timestamps, in seconds, of the sampled frames, in sample order.</summary>
    public IReadOnlyList<double> FrameTimestamps { get; init; } = [];

    /// <summary>True when the frames came from the artifact cache (no decode work).</summary>
    public bool FromCache { get; init; }
}
