namespace VideoLong.Contracts;

/// <summary>
/// Event: answer text generated since the previous piece of the same job (pieces are coalesced, e.g. every 50 ms, so the
/// bus is not flooded). <see cref="Sequence"/> counts from 0 within one run of the answer stage, so that a consumer can
/// order the pieces and drop duplicates; the pieces of a run concatenate to the answer (before trimming).
/// </summary>
public sealed record AnswerTokensGenerated
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>0, 1, 2, … within one run of the answer stage.</summary>
    public required int Sequence { get; init; }

    /// <summary>The text delta: what the tokens since the previous piece decoded to (may be empty on the final piece).</summary>
    public required string Text { get; init; }

    /// <summary>Tokens generated so far in this run, this piece included.</summary>
    public required int TokensGenerated { get; init; }

    /// <summary>True on the last piece of the run (generation ended).</summary>
    public bool Final { get; init; }
}
