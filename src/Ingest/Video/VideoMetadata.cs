namespace VideoLong.Ingest;

/// <summary>What <see cref="VideoProbe"/> learned about a video file: container, codec, geometry, timing and the frame index.</summary>
public sealed record VideoMetadata
{
    public required string Path { get; init; }

    /// <summary>Container format names as FFmpeg reports them, e.g. "mov,mp4,m4a,3gp,3g2,mj2".</summary>
    public required string Container { get; init; }

    public required string ContainerLongName { get; init; }

    /// <summary>Codec name as FFmpeg reports it, e.g. "h264".</summary>
    public required string Codec { get; init; }

    public required string CodecLongName { get; init; }

    public string? Profile { get; init; }

    public required string PixelFormat { get; init; }

    /// <summary>Index of the video stream in the container.</summary>
    public required int StreamIndex { get; init; }

    /// <summary>Stored frame size.</summary>
    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>Rotation from the display matrix, in degrees as ffprobe reports it (0, ±90, 180).</summary>
    public required int Rotation { get; init; }

    /// <summary>Size of decoded frames as they are shown: rotation applied (FFmpeg rotates while decoding), square pixels.</summary>
    public required int DisplayWidth { get; init; }

    public required int DisplayHeight { get; init; }

    public required Rational SampleAspectRatio { get; init; }

    /// <summary>Average frame rate.</summary>
    public required Rational FrameRate { get; init; }

    public required Rational TimeBase { get; init; }

    public required double DurationSeconds { get; init; }

    /// <summary>Container start time; every timestamp VideoLong reports is measured from it.</summary>
    public required double StartSeconds { get; init; }

    public long? BitRate { get; init; }

    public required bool HasAudio { get; init; }

    /// <summary>Problems found while probing that do not stop decoding (e.g. a truncated file).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Number of frames, counted from the packets of the stream.</summary>
    public int FrameCount => Timeline.FrameCount;

    public IEnumerable<double> KeyframeSeconds => Timeline.KeyframeSeconds;

    /// <summary>The frame index (presentation timestamps and keyframes).</summary>
    public required VideoTimeline Timeline { get; init; }

    /// <summary>Raw presentation timestamps in <see cref="TimeBase"/> units, parallel to the timeline; used to select frames exactly.</summary>
    internal long[] RawPts { get; init; } = [];
}
