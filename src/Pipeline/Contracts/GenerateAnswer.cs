namespace VideoLong.Contracts;

/// <summary>Stage command: run the language model over visual tokens and a question.</summary>
public sealed record GenerateAnswer
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required ArtifactRef VisualTokens { get; init; }

    public required string Question { get; init; }

    public required string Model { get; init; }

    /// <summary>Video-level dropping and V2PE apply here; the clip-level merge was done by <see cref="EncodeVideo"/>.</summary>
    public CompressionSettings Compression { get; init; } = new();

    public GenerationSettings Generation { get; init; } = new();

    /// <summary>Presentation timestamps, in seconds, of the frames behind the visual tokens (they support the answer).</summary>
    public IReadOnlyList<double> FrameTimestamps { get; init; } = [];

    /// <summary>Length of the video, for the time prompt; null leaves the time prompt out.</summary>
    public double? DurationSeconds { get; init; }
}
