namespace VideoLong.Contracts;

/// <summary>How frames are chosen from a video (the CLI's <c>--strategy</c>).</summary>
public enum SamplingStrategy
{
    /// <summary>A fixed number of frames at the midpoints of equal segments.</summary>
    Uniform,

    /// <summary>A fixed rate (<see cref="SamplingSettings.Fps"/> frames per second).</summary>
    Fps,

    /// <summary>VideoChat-Flash <c>dynamic_fps1</c>: 1 fps, clamped to [min, max] frames, a multiple of the clip length.</summary>
    DynamicFps,

    /// <summary>LongVILA: N frames, at most <see cref="SamplingSettings.MaxFps"/> per second.</summary>
    LongVila,

    /// <summary>Keyframes only (cheapest decode).</summary>
    Keyframes,
}
