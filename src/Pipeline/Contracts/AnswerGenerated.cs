namespace VideoLong.Contracts;

/// <summary>Event: the answer to a question about a video.</summary>
public sealed record AnswerGenerated
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    public required string Answer { get; init; }

    /// <summary>Presentation timestamps, in seconds, of the frames that support the answer.</summary>
    public IReadOnlyList<double> SupportingTimestamps { get; init; } = [];

    /// <summary>Visual tokens left after HiCo video-level dropping inside the LLM; null without dropping.</summary>
    public int? VisualTokensAfterDropping { get; init; }
}
