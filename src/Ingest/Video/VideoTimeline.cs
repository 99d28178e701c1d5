namespace VideoLong.Ingest;

/// <summary>
/// The frames of a video stream in presentation order: each frame's presentation timestamp (seconds from the start of
/// the video) and which frames are keyframes. Built by <see cref="VideoProbe"/> from the container's packets, without
/// decoding; the samplers are pure functions over it.
/// </summary>
public sealed class VideoTimeline
{
    private readonly double[] _pts;
    private readonly int[] _keyframes;

    /// <param name="ptsSeconds">Presentation timestamps in seconds, strictly increasing.</param>
    /// <param name="keyframeIndices">Indices (into <paramref name="ptsSeconds"/>) of keyframes, increasing.</param>
    /// <param name="durationSeconds">Duration of the stream; at least the last timestamp.</param>
    /// <param name="averageFrameRate">Average frame rate (frames per second) as the container states it.</param>
    public VideoTimeline(double[] ptsSeconds, int[] keyframeIndices, double durationSeconds, double averageFrameRate)
    {
        ArgumentNullException.ThrowIfNull(ptsSeconds);
        ArgumentNullException.ThrowIfNull(keyframeIndices);
        for (int i = 1; i < ptsSeconds.Length; i++)
        {
            if (!(ptsSeconds[i] > ptsSeconds[i - 1]))
            {
                throw new ArgumentException($"Timestamps must increase strictly; frame {i} has {ptsSeconds[i]} after {ptsSeconds[i - 1]}.", nameof(ptsSeconds));
            }
        }

        for (int i = 0; i < keyframeIndices.Length; i++)
        {
            if (keyframeIndices[i] < 0 || keyframeIndices[i] >= ptsSeconds.Length || (i > 0 && keyframeIndices[i] <= keyframeIndices[i - 1]))
            {
                throw new ArgumentException($"Keyframe index {keyframeIndices[i]} at position {i} is out of order or out of range.", nameof(keyframeIndices));
            }
        }

        _pts = ptsSeconds;
        _keyframes = keyframeIndices;
        DurationSeconds = Math.Max(durationSeconds, ptsSeconds.Length == 0 ? 0 : ptsSeconds[^1]);
        AverageFrameRate = averageFrameRate > 0 ? averageFrameRate
            : ptsSeconds.Length > 1 ? (ptsSeconds.Length - 1) / (ptsSeconds[^1] - ptsSeconds[0]) : 1;
    }

    /// <summary>Number of frames (decodable packets of the stream).</summary>
    public int FrameCount => _pts.Length;

    public double DurationSeconds { get; }

    public double AverageFrameRate { get; }

    /// <summary>Presentation timestamps (seconds from the start of the video), in presentation order.</summary>
    public IReadOnlyList<double> PtsSeconds => _pts;

    /// <summary>Indices of the keyframes, increasing.</summary>
    public IReadOnlyList<int> KeyframeIndices => _keyframes;

    /// <summary>Keyframe timestamps in seconds.</summary>
    public IEnumerable<double> KeyframeSeconds => _keyframes.Select(i => _pts[i]);

    /// <summary>A timeline of <paramref name="frameCount"/> frames at a constant rate with a keyframe every <paramref name="gop"/> frames.</summary>
    public static VideoTimeline ConstantRate(int frameCount, double fps, int gop = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frameCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(fps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gop);
        double[] pts = new double[frameCount];
        for (int i = 0; i < frameCount; i++)
        {
            pts[i] = i / fps;
        }

        int[] keys = Enumerable.Range(0, (frameCount + gop - 1) / gop).Select(k => k * gop).ToArray();
        return new VideoTimeline(pts, keys, frameCount / fps, fps);
    }

    /// <summary>Duration of frame <paramref name="index"/>: until the next frame, or the end of the stream for the last.</summary>
    public double FrameDuration(int index) =>
        index + 1 < _pts.Length ? _pts[index + 1] - _pts[index] : Math.Max(DurationSeconds - _pts[index], 1 / AverageFrameRate);

    /// <summary>
    /// Index of the frame on screen at <paramref name="seconds"/>: the last frame whose timestamp is ≤ it (0 before the
    /// first). A time within a microsecond of a frame's timestamp counts as that frame's, so a timestamp printed with six
    /// decimals finds its frame.
    /// </summary>
    public int FramePlayedAt(double seconds)
    {
        int i = Array.BinarySearch(_pts, seconds + 1e-6);
        if (i >= 0)
        {
            return i;
        }

        int next = ~i;
        return Math.Max(0, next - 1);
    }

    /// <summary>The keyframe at or before frame <paramref name="frameIndex"/> (where decoding must start).</summary>
    public int KeyframeAtOrBefore(int frameIndex)
    {
        int i = Array.BinarySearch(_keyframes, frameIndex);
        if (i >= 0)
        {
            return _keyframes[i];
        }

        int next = ~i;
        return next == 0 ? 0 : _keyframes[next - 1];
    }

    /// <summary>The keyframe nearest in time to <paramref name="seconds"/> (ties go to the earlier one).</summary>
    public int NearestKeyframe(double seconds)
    {
        if (_keyframes.Length == 0)
        {
            return FramePlayedAt(seconds);
        }

        int lo = 0, hi = _keyframes.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (_pts[_keyframes[mid]] < seconds)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        int after = _keyframes[lo];
        if (lo > 0)
        {
            int before = _keyframes[lo - 1];
            if (seconds - _pts[before] <= _pts[after] - seconds)
            {
                return before;
            }
        }

        return after;
    }

    public bool IsKeyframe(int frameIndex) => Array.BinarySearch(_keyframes, frameIndex) >= 0;
}
