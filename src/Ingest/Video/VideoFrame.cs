namespace VideoLong.Ingest;

/// <summary>
/// One decoded frame: RGB24 pixels (row-major, 3 bytes a pixel, <see cref="Width"/>·<see cref="Height"/>·3 bytes) and
/// the frame's exact presentation timestamp as the decoder delivered it.
/// </summary>
/// <remarks>
/// Disposing a frame hands its pixel buffer back to the decoder for the next frames (keeping memory flat over long
/// videos); do not touch <see cref="Rgb24"/> after that. A frame that is kept need not be disposed.
/// </remarks>
public sealed record VideoFrame : IDisposable
{
    private int _disposed;

    /// <summary>Position of this frame's request in the <see cref="SamplePlan"/>.</summary>
    public required int SampleIndex { get; init; }

    /// <summary>Index of the frame in the video, in presentation order.</summary>
    public required int FrameIndex { get; init; }

    /// <summary>The time the sampler asked for.</summary>
    public required double RequestedSeconds { get; init; }

    /// <summary>Presentation timestamp of the decoded frame, seconds from the start of the video.</summary>
    public required double PtsSeconds { get; init; }

    /// <summary>How long the frame stays on screen.</summary>
    public required double DurationSeconds { get; init; }

    public required bool IsKeyframe { get; init; }

    /// <summary>True when a keyframe stands in for the requested frame (keyframe-only decoding of non-key targets).</summary>
    public bool Approximate { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    public required byte[] Rgb24 { get; init; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            FrameBufferPool.Return(Rgb24);
        }
    }
}

/// <summary>Progress of a decode: frames delivered out of the frames requested.</summary>
public readonly record struct DecodeProgress(int Delivered, int Total);
