namespace VideoLong.Contracts;

/// <summary>One caption over the half-open time range [StartSeconds, EndSeconds).</summary>
public sealed record CaptionSegment
{
    public required double StartSeconds { get; init; }

    public required double EndSeconds { get; init; }

    /// <summary>Empty when <see cref="FrameCount"/> is 0: no sampled frame fell in the segment, so nothing was generated.</summary>
    public required string Text { get; init; }

    /// <summary>Sampled frames whose visual tokens the caption was generated from; 0 for a segment without frames.</summary>
    public int FrameCount { get; init; }
}
