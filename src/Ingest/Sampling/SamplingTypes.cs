using System.Globalization;

namespace VideoLong.Ingest;

/// <summary>What a sampler does when a request goes beyond what the video (or the chosen range) offers.</summary>
public enum OutOfRangePolicy
{
    /// <summary>Refuse with a <see cref="SamplingRangeException"/> that states the valid range.</summary>
    Error,

    /// <summary>Clamp times into the video and return only the frames that exist (possibly fewer than asked for).</summary>
    Clamp,

    /// <summary>Clamp times, and pad a short result by repeating the last frame (VideoChat-Flash's behaviour).</summary>
    RepeatLast,
}

/// <summary>A half-open time range [Start, End) in seconds from the start of the video; End = +∞ means "to the end".</summary>
public readonly record struct TimeRange(double Start, double End)
{
    public static TimeRange Whole { get; } = new(0, double.PositiveInfinity);

    public override string ToString() => double.IsPositiveInfinity(End)
        ? string.Create(CultureInfo.InvariantCulture, $"[{Start:0.###} s, end)")
        : string.Create(CultureInfo.InvariantCulture, $"[{Start:0.###} s, {End:0.###} s)");
}

/// <summary>One frame a sampler asks for: the frame's index in presentation order and the time that led to it.</summary>
public readonly record struct FrameRequest(int FrameIndex, double RequestedSeconds);

/// <summary>The output of a sampler: the frames to decode, in order (a frame may repeat), and how they were chosen.</summary>
public sealed record SamplePlan
{
    /// <summary>A short description, e.g. "fps=1 over [0 s, end)" or "dynamic_fps1 clip=4 min=64 max=512".</summary>
    public required string Strategy { get; init; }

    public required IReadOnlyList<FrameRequest> Frames { get; init; }

    /// <summary>True when the frames are keyframes standing in for other times (keyframe sampling).</summary>
    public bool KeyframesOnly { get; init; }

    public int Count => Frames.Count;
}
