namespace VideoLong.Contracts;

/// <summary>How the language model decodes. Greedy by default.</summary>
public sealed record GenerationSettings
{
    public int MaxNewTokens { get; init; } = 256;

    /// <summary>0 means greedy decoding.</summary>
    public double Temperature { get; init; }

    public int? Seed { get; init; }

    /// <summary>Keep generating through end-of-turn tokens up to <see cref="MaxNewTokens"/> (chat's <c>--ignore-eos</c>; fixed lengths for tests and benchmarks).</summary>
    public bool IgnoreEos { get; init; }
}
