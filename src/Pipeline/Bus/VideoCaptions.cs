using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>The stored result of a CaptionVideo job (the job store's result JSON).</summary>
public sealed record VideoCaptions
{
    /// <summary>Covers [0, duration] in order; a segment without sampled frames has FrameCount 0 and empty text.</summary>
    public required IReadOnlyList<CaptionSegment> Segments { get; init; }

    public required double SegmentSeconds { get; init; }

    public required double DurationSeconds { get; init; }

    public required int FrameCount { get; init; }

    public required int VisualTokens { get; init; }

    /// <summary>Which stages were served by the artifact cache.</summary>
    public required CacheHits Cached { get; init; }
}
