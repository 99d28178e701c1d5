namespace VideoLong.Contracts;

/// <summary>Command: answer a question about a video (the whole pipeline: prepare, encode, answer).</summary>
public sealed record AnswerQuestion
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>The video, as a stored artifact; set this or <see cref="SourcePath"/>.</summary>
    public ArtifactRef? Source { get; init; }

    /// <summary>The video, as a path under the configured allowed roots; set this or <see cref="Source"/>.</summary>
    public string? SourcePath { get; init; }

    public required string Question { get; init; }

    public SamplingSettings Sampling { get; init; } = new();

    /// <summary>The checkpoint directory (or configured model name) the Language layer loads.</summary>
    public required string Model { get; init; }

    public CompressionSettings Compression { get; init; } = new();

    public GenerationSettings Generation { get; init; } = new();
}
