namespace VideoLong.Contracts;

/// <summary>Stage command: probe, plan, decode and sample a video into a frames artifact.</summary>
public sealed record PrepareVideo
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef Source { get; init; }

    public SamplingSettings Sampling { get; init; } = new();

    /// <summary>Side, in pixels, of the square frames the vision tower takes (frames are stretched to it; SigLIP: 384).</summary>
    public int FrameSize { get; init; } = 384;
}
