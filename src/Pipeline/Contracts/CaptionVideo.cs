namespace VideoLong.Contracts;

/// <summary>Command: dense captions of a video, one per segment of <see cref="SegmentSeconds"/>.</summary>
public sealed record CaptionVideo
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>The video, as a stored artifact; set this or <see cref="SourcePath"/>.</summary>
    public ArtifactRef? Source { get; init; }

    /// <summary>The video, as a path under the configured allowed roots; set this or <see cref="Source"/>.</summary>
    public string? SourcePath { get; init; }

    /// <summary>Length of each captioned segment, in seconds.</summary>
    public required double SegmentSeconds { get; init; }

    /// <summary>Most segments the video may be cut into (duration / SegmentSeconds, rounded up); more faults the job.</summary>
    public int MaxSegments { get; init; } = 1000;

    public SamplingSettings Sampling { get; init; } = new();

    public required string Model { get; init; }

    public CompressionSettings Compression { get; init; } = new();

    public GenerationSettings Generation { get; init; } = new();
}
