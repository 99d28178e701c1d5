namespace VideoLong.Pipeline.Bus;

/// <summary>The stored result of an AnswerQuestion job (the job store's result JSON).</summary>
public sealed record VideoAnswer
{
    public required string Answer { get; init; }

    /// <summary>Presentation timestamps, in seconds, of the frames that support the answer.</summary>
    public required IReadOnlyList<double> SupportingTimestamps { get; init; }

    public required int FrameCount { get; init; }

    public required int VisualTokens { get; init; }

    /// <summary>Visual tokens left after video-level dropping inside the LLM; null without dropping.</summary>
    public int? VisualTokensAfterDropping { get; init; }

    public required double DurationSeconds { get; init; }

    /// <summary>Which stages were served by the artifact cache.</summary>
    public required CacheHits Cached { get; init; }
}

/// <summary>True for each stage whose output came from the artifact cache (no decode, no encode).</summary>
public sealed record CacheHits(bool Frames, bool Tokens);
