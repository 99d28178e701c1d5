namespace VideoLong.Language.Generation;

/// <summary>
/// How tokens are chosen: greedy by default (as lmms-eval evaluates); with <see cref="DoSample"/>, temperature, top-k and
/// top-p (nucleus) filtering applied in that order (as transformers' logits warpers), then a draw from the softmax.
/// A fixed <see cref="Seed"/> makes sampling reproducible.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Greedy decoding with the default budget.</summary>
    public static GenerationOptions Greedy { get; } = new();

    /// <summary>New tokens at most per sequence (the stop token, when one is produced, counts and is returned).</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>Sample from the filtered distribution instead of taking the arg-max.</summary>
    public bool DoSample { get; init; }

    /// <summary>Logits are divided by this before sampling; &gt; 0.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Keep the smallest set of tokens whose probability mass reaches this; in (0, 1], 1 = off.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Keep this many most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Seed of the sampling generator; null draws from libtorch's global generator.</summary>
    public long? Seed { get; init; }

    /// <summary>A sequence ends after producing one of these (e.g. the config's eos ids).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Fills left padding and the input of finished sequences; any id in the vocabulary.</summary>
    public int PadTokenId { get; init; }

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the first invalid value.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxNewTokens);
        if (!(Temperature > 0) || !double.IsFinite(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "The temperature must be a finite number > 0.");
        }

        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "Top-p must be in (0, 1]; 1 turns it off.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(TopK);
        ArgumentOutOfRangeException.ThrowIfNegative(PadTokenId);
    }
}
