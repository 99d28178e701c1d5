using System.Globalization;

namespace VideoLong.Ingest;

/// <summary>
/// Frame samplers: pure functions from a <see cref="VideoTimeline"/> to the frames to decode. Each works over a half-open
/// time range and applies an explicit <see cref="OutOfRangePolicy"/>. The algorithms follow the reference code named on
/// each method (see ALGORITHMS.md §1.2 and §4.1).
/// </summary>
public static class FrameSamplers
{
    /// <summary>
    /// Fixed rate: the frame on screen at start + k/fps for every k with that time inside the range (as torchcodec's
    /// <c>get_frames_played_in_range</c>). A rate above the video's own repeats frames.
    /// </summary>
    public static SamplePlan Fps(VideoTimeline timeline, double fps, TimeRange? range = null, OutOfRangePolicy policy = OutOfRangePolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (!(fps > 0) || !double.IsFinite(fps))
        {
            throw new SamplingRangeException($"Invalid fps {fps.ToString(CultureInfo.InvariantCulture)}: must be a finite number > 0.");
        }

        (double start, double end) = ResolveRange(timeline, range ?? TimeRange.Whole, policy);
        var frames = new List<FrameRequest>();
        for (long k = 0; ; k++)
        {
            double t = start + (k / fps);
            if (t >= end)
            {
                break;
            }

            frames.Add(new FrameRequest(timeline.FramePlayedAt(t), t));
        }

        return new SamplePlan { Strategy = Describe($"fps={fps:0.###}", start, end, timeline), Frames = frames };
    }

    /// <summary>
    /// N frames uniformly: the frames of the range split into N equal integer intervals, each interval's midpoint
    /// (VideoChat-Flash <c>get_frame_indices(sample="middle")</c>). N above the frames available follows the policy.
    /// </summary>
    public static SamplePlan Uniform(VideoTimeline timeline, int count, TimeRange? range = null, OutOfRangePolicy policy = OutOfRangePolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (count <= 0)
        {
            throw new SamplingRangeException($"Invalid frame count {count}: must be ≥ 1.");
        }

        (double start, double end) = ResolveRange(timeline, range ?? TimeRange.Whole, policy);
        (int first, int available) = FramesIn(timeline, start, end);
        if (count > available && policy == OutOfRangePolicy.Error)
        {
            throw new SamplingRangeException($"Asked for {count} frames but {RangeText(start, end, timeline)} holds only {available}. Ask for at most {available}, or allow repeats/fewer frames with another out-of-range policy.");
        }

        int[] local = MiddleIndices(available, count, pad: policy == OutOfRangePolicy.RepeatLast);
        return new SamplePlan
        {
            Strategy = Describe($"uniform n={count}", start, end, timeline),
            Frames = local.Select(i => Request(timeline, first + i)).ToArray(),
        };
    }

    /// <summary>
    /// VideoChat-Flash <c>dynamic_fps1</c>: about one frame per second, rounded down to a multiple of the clip length,
    /// clamped to [minFrames, maxFrames] (the lower bound drops to ⌊vlen/clip⌋·clip for very short videos), then
    /// uniform midpoints; a short result is padded by repeating the last index (policy RepeatLast, the reference).
    /// </summary>
    public static SamplePlan DynamicFps1(VideoTimeline timeline, int clipLength = 4, int minFrames = 64, int maxFrames = 512,
        TimeRange? range = null, OutOfRangePolicy policy = OutOfRangePolicy.RepeatLast)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (clipLength <= 0 || minFrames < 0 || maxFrames <= 0 || minFrames > maxFrames)
        {
            throw new SamplingRangeException($"Invalid dynamic-fps settings: clip length {clipLength} must be ≥ 1 and 0 ≤ min ({minFrames}) ≤ max ({maxFrames}), max ≥ 1.");
        }

        (double start, double end) = ResolveRange(timeline, range ?? TimeRange.Whole, policy);
        (int first, int vlen) = FramesIn(timeline, start, end);
        int n = DynamicFps1Count(vlen, timeline.AverageFrameRate, clipLength, minFrames, maxFrames);
        if (n > vlen && policy == OutOfRangePolicy.Error)
        {
            throw new SamplingRangeException($"dynamic_fps1 needs {n} frames but {RangeText(start, end, timeline)} holds only {vlen}.");
        }

        int[] local = MiddleIndices(vlen, n, pad: policy == OutOfRangePolicy.RepeatLast);
        return new SamplePlan
        {
            Strategy = Describe($"dynamic_fps1 clip={clipLength} min={minFrames} max={maxFrames}", start, end, timeline),
            Frames = local.Select(i => Request(timeline, first + i)).ToArray(),
        };
    }

    /// <summary>The frame count <c>dynamic_fps1</c> chooses for <paramref name="vlen"/> frames at <paramref name="fps"/>.</summary>
    public static int DynamicFps1Count(int vlen, double fps, int clipLength = 4, int minFrames = 64, int maxFrames = 512)
    {
        double duration = vlen / fps;
        int segments = (int)Math.Floor(duration / clipLength);
        int n = segments == 0 ? clipLength : clipLength * segments;
        if (vlen < minFrames)
        {
            minFrames = vlen / clipLength * clipLength;
        }

        n = Math.Min(n, maxFrames);
        return Math.Max(n, minFrames);
    }

    /// <summary>
    /// LongVILA (<c>llava/mm_utils.py</c>): if the video lasts at least numFrames / maxFps seconds, numFrames indices
    /// <c>linspace(0, F−1, numFrames)</c> truncated to integers; otherwise duration·maxFps frames the same way.
    /// </summary>
    public static SamplePlan LongVila(VideoTimeline timeline, int numFrames, double maxFps = 2.0, TimeRange? range = null,
        OutOfRangePolicy policy = OutOfRangePolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (numFrames <= 0 || !(maxFps > 0))
        {
            throw new SamplingRangeException($"Invalid LongVILA settings: frames {numFrames} must be ≥ 1 and max fps {maxFps} > 0.");
        }

        (double start, double end) = ResolveRange(timeline, range ?? TimeRange.Whole, policy);
        (int first, int frameCount) = FramesIn(timeline, start, end);
        double duration = frameCount / timeline.AverageFrameRate;
        int n = duration >= numFrames / maxFps ? numFrames : Math.Max(1, (int)(duration * maxFps));
        double step = n > 1 ? (frameCount - 1.0) / (n - 1) : 0;
        var frames = new FrameRequest[n];
        for (int k = 0; k < n; k++)
        {
            int local = k == n - 1 && n > 1 ? frameCount - 1 : (int)(k * step);
            frames[k] = Request(timeline, first + local);
        }

        return new SamplePlan { Strategy = Describe($"longvila n={numFrames} max_fps={maxFps:0.###}", start, end, timeline), Frames = frames };
    }

    /// <summary>The keyframes of the range; when there are more than <paramref name="maxCount"/>, a uniform subset of them.</summary>
    public static SamplePlan Keyframes(VideoTimeline timeline, TimeRange? range = null, int? maxCount = null, OutOfRangePolicy policy = OutOfRangePolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (maxCount is <= 0)
        {
            throw new SamplingRangeException($"Invalid keyframe count {maxCount}: must be ≥ 1.");
        }

        (double start, double end) = ResolveRange(timeline, range ?? TimeRange.Whole, policy);
        int[] keys = timeline.KeyframeIndices.Where(i => timeline.PtsSeconds[i] >= start && timeline.PtsSeconds[i] < end).ToArray();
        if (keys.Length == 0)
        {
            throw new SamplingRangeException($"{RangeText(start, end, timeline)} holds no keyframe; the video's keyframes are at {string.Join(", ", timeline.KeyframeSeconds.Take(8).Select(s => s.ToString("0.###", CultureInfo.InvariantCulture)))}{(timeline.KeyframeIndices.Count > 8 ? ", …" : "")} s.");
        }

        if (maxCount is { } m && m < keys.Length)
        {
            keys = MiddleIndices(keys.Length, m, pad: false).Select(i => keys[i]).ToArray();
        }

        return new SamplePlan
        {
            Strategy = Describe(maxCount is null ? "keyframes" : $"keyframes n≤{maxCount}", start, end, timeline),
            Frames = keys.Select(i => Request(timeline, i)).ToArray(),
            KeyframesOnly = true,
        };
    }

    /// <summary>The frames on screen at the given times (torchcodec's <c>get_frames_played_at</c>).</summary>
    public static SamplePlan PlayedAt(VideoTimeline timeline, IReadOnlyList<double> seconds, OutOfRangePolicy policy = OutOfRangePolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        ArgumentNullException.ThrowIfNull(seconds);
        var frames = new FrameRequest[seconds.Count];
        for (int i = 0; i < seconds.Count; i++)
        {
            double t = seconds[i];
            if (!(t >= 0 && t < timeline.DurationSeconds))
            {
                if (policy == OutOfRangePolicy.Error || double.IsNaN(t))
                {
                    throw new SamplingRangeException(string.Create(CultureInfo.InvariantCulture,
                        $"Invalid time {t:0.###} s: must be ≥ 0 and < {timeline.DurationSeconds:0.###} s (video duration)."));
                }

                t = Math.Clamp(t, 0, timeline.DurationSeconds);
            }

            frames[i] = new FrameRequest(timeline.FramePlayedAt(t), seconds[i]);
        }

        return new SamplePlan { Strategy = $"played-at n={seconds.Count}", Frames = frames };
    }

    /// <summary>
    /// Interval midpoints (VideoChat-Flash "middle"): boundaries <c>linspace(0, vlen, n+1)</c> truncated to integers, index
    /// ⌊(start + end − 1) / 2⌋ per interval, with n capped at vlen; padded to <paramref name="count"/> by repeating the
    /// last index when <paramref name="pad"/>.
    /// </summary>
    public static int[] MiddleIndices(int vlen, int count, bool pad)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(vlen);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int n = Math.Min(count, vlen);
        var result = new List<int>(count);
        if (n > 0)
        {
            double step = (double)vlen / n;
            int previous = 0;
            for (int k = 1; k <= n; k++)
            {
                int boundary = k == n ? vlen : (int)(k * step);   // numpy: arange(num) * step + start, last = stop
                result.Add((previous + boundary - 1) / 2);
                previous = boundary;
            }
        }

        while (pad && result.Count < count && result.Count > 0)
        {
            result.Add(result[^1]);
        }

        return result.ToArray();
    }

    /// <summary>Checks a range against the video and returns it with End made finite.</summary>
    public static (double Start, double End) ResolveRange(VideoTimeline timeline, TimeRange range, OutOfRangePolicy policy)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        double duration = timeline.DurationSeconds;
        double start = range.Start, end = range.End;
        if (double.IsNaN(start) || double.IsNaN(end))
        {
            throw new SamplingRangeException("Invalid range: start and end must be numbers.");
        }

        if (policy == OutOfRangePolicy.Error)
        {
            if (start < 0 || start >= duration)
            {
                throw new SamplingRangeException(string.Create(CultureInfo.InvariantCulture,
                    $"Invalid start {start:0.###} s: must be ≥ 0 and < {duration:0.###} s (video duration)."));
            }

            if (!double.IsPositiveInfinity(end) && (end <= start || end > duration))
            {
                throw new SamplingRangeException(string.Create(CultureInfo.InvariantCulture,
                    $"Invalid end {end:0.###} s: must be > start ({start:0.###} s) and ≤ {duration:0.###} s (video duration)."));
            }
        }

        start = Math.Clamp(start, 0, duration);
        end = Math.Clamp(end, 0, duration);
        if (end <= start || FramesIn(timeline, start, end).Count == 0)
        {
            throw new SamplingRangeException(string.Create(CultureInfo.InvariantCulture,
                $"The range [{range.Start:0.###} s, {range.End:0.###} s) holds no frame of this video (frames from {FirstPts(timeline):0.###} s to {LastPts(timeline):0.###} s)."));
        }

        return (start, end);
    }

    /// <summary>First index and number of frames whose timestamps lie in [start, end).</summary>
    private static (int First, int Count) FramesIn(VideoTimeline timeline, double start, double end)
    {
        IReadOnlyList<double> pts = timeline.PtsSeconds;
        int first = LowerBound(pts, start);
        int last = LowerBound(pts, end);
        return (first, Math.Max(0, last - first));
    }

    private static int LowerBound(IReadOnlyList<double> values, double x)
    {
        int lo = 0, hi = values.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (values[mid] < x)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static double FirstPts(VideoTimeline timeline) => timeline.FrameCount > 0 ? timeline.PtsSeconds[0] : 0;

    private static double LastPts(VideoTimeline timeline) => timeline.FrameCount > 0 ? timeline.PtsSeconds[^1] : 0;

    private static FrameRequest Request(VideoTimeline timeline, int index) => new(index, timeline.PtsSeconds[index]);

    private static string RangeText(double start, double end, VideoTimeline timeline) =>
        start <= 0 && end >= timeline.DurationSeconds ? "the video" : new TimeRange(start, end).ToString();

    private static string Describe(string what, double start, double end, VideoTimeline timeline) =>
        $"{what} over {(start <= 0 && end >= timeline.DurationSeconds ? "the whole video" : new TimeRange(start, end).ToString())}";
}
