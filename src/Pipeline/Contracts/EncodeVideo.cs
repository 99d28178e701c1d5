namespace VideoLong.Contracts;

/// <summary>Stage command: turn sampled frames into visual tokens (vision tower, HiCo clip-level merge, projector).</summary>
public sealed record EncodeVideo
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef Frames { get; init; }

    public required int FrameCount { get; init; }

    public required string Model { get; init; }

    public CompressionSettings Compression { get; init; } = new();
}
