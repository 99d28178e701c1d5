namespace VideoLong.Contracts;

/// <summary>An inline NIAH grid: every haystack length crossed with every needle depth.</summary>
public sealed record NiahGrid
{
    /// <summary>The haystack video.</summary>
    public required ArtifactRef Haystack { get; init; }

    /// <summary>Haystack lengths in frames.</summary>
    public required IReadOnlyList<int> FrameCounts { get; init; }

    /// <summary>Needle depths as fractions of the haystack, in [0, 1].</summary>
    public required IReadOnlyList<double> Depths { get; init; }

    /// <summary>1 for single-needle; more for multi-hop chains.</summary>
    public int Hops { get; init; } = 1;

    public CompressionSettings Compression { get; init; } = new();
}
