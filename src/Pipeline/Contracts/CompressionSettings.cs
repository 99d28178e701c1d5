namespace VideoLong.Contracts;

/// <summary>Visual-token compression and positions (HiCo clip level, HiCo video level, V2PE).</summary>
public sealed record CompressionSettings
{
    /// <summary>HiCo clip-level merge to this many tokens per frame (VideoChat-Flash: 16); null keeps the model's pooling.</summary>
    public int? TokensPerFrame { get; init; }

    /// <summary>LLM layers at which visual tokens are dropped; empty for no dropping.</summary>
    public IReadOnlyList<int> DropLayers { get; init; } = [];

    /// <summary>Fraction of visual tokens kept: ρ_0 = 1, then one non-increasing value per layer of <see cref="DropLayers"/> (VideoChat-Flash: 1, 0.75, 0.25).</summary>
    public IReadOnlyList<double> DropRatios { get; init; } = [];

    public TokenDropMode DropMode { get; init; } = TokenDropMode.Uniform0Attention;

    /// <summary>V2PE: visual tokens advance by stride/256 positions (64 at inference; 256 = standard); null for the model's default.</summary>
    public int? V2peStride { get; init; }
}
