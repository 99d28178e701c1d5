namespace VideoLong.Language.Tokenization;

/// <summary>
/// A token matched whole in the text before BPE (HF <c>AddedToken</c>): Qwen2's <c>&lt;|endoftext|&gt;</c>,
/// <c>&lt;|im_start|&gt;</c>, <c>&lt;|im_end|&gt;</c>, and model-specific ones such as <c>&lt;image&gt;</c> and
/// <c>&lt;video&gt;</c>. Field names follow tokenizer.json's <c>added_tokens</c> entries.
/// </summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">Its text.</param>
public sealed record AddedToken(int Id, string Content)
{
    /// <summary>Special tokens are dropped by <c>Decode(..., skipSpecialTokens: true)</c>.</summary>
    public bool Special { get; init; }

    /// <summary>Match only when not inside a word.</summary>
    public bool SingleWord { get; init; }

    /// <summary>Swallow the whitespace on its left.</summary>
    public bool LStrip { get; init; }

    /// <summary>Swallow the whitespace on its right.</summary>
    public bool RStrip { get; init; }

    /// <summary>Matched in the normalized (NFC) text rather than the raw text.</summary>
    public bool Normalized { get; init; }
}
