namespace VideoLong.Contracts;

/// <summary>One caption over the half-open time range [StartSeconds, EndSeconds).</summary>
public sealed record CaptionSegment
{
    public required double StartSeconds { get; init; }

    public required double EndSeconds { get; init; }

    public required string Text { get; init; }
}
