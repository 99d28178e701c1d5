namespace VideoLong.Contracts;

/// <summary>Which frames of a video a job looks at. Mirrors the CLI's sampling options; defaults are the CLI's.</summary>
public sealed record SamplingSettings
{
    public SamplingStrategy Strategy { get; init; } = SamplingStrategy.DynamicFps;

    /// <summary>Frames per second for <see cref="SamplingStrategy.Fps"/>.</summary>
    public double? Fps { get; init; }

    /// <summary>Number of frames for <see cref="SamplingStrategy.Uniform"/> and <see cref="SamplingStrategy.LongVila"/>; the maximum for keyframes.</summary>
    public int? FrameCount { get; init; }

    /// <summary>Start of the half-open time range, in seconds.</summary>
    public double StartSeconds { get; init; }

    /// <summary>End of the half-open time range, in seconds; null means the end of the video.</summary>
    public double? EndSeconds { get; init; }

    /// <summary>Dynamic fps: the frame count is a multiple of this.</summary>
    public int ClipLength { get; init; } = 4;

    public int MinFrames { get; init; } = 64;

    public int MaxFrames { get; init; } = 512;

    /// <summary>LongVILA: maximum frames per second.</summary>
    public double MaxFps { get; init; } = 2.0;
}
