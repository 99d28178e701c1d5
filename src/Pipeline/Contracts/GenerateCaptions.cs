namespace VideoLong.Contracts;

/// <summary>Stage command: one caption per segment of <see cref="SegmentSeconds"/>, each from the visual tokens of that segment's frames.</summary>
public sealed record GenerateCaptions
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef VisualTokens { get; init; }

    public required string Model { get; init; }

    /// <summary>The clip-level merge the tokens were encoded with (it decides how tokens map to frames).</summary>
    public CompressionSettings Compression { get; init; } = new();

    public GenerationSettings Generation { get; init; } = new();

    /// <summary>Presentation timestamps, in seconds, of the frames behind the visual tokens, in token order.</summary>
    public required IReadOnlyList<double> FrameTimestamps { get; init; }

    public required double DurationSeconds { get; init; }

    public required double SegmentSeconds { get; init; }

    public int MaxSegments { get; init; } = 1000;
}
