using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using VideoLong.Ingest.Tools;

namespace VideoLong.Ingest;

/// <summary>Options fixed when a decoder is created.</summary>
public sealed record DecoderOptions
{
    /// <summary>Decoder threads for FFmpeg (0 = FFmpeg's choice).</summary>
    public int Threads { get; init; }

    /// <summary>Skip frames that cannot be decoded instead of failing (they are then missing from the output).</summary>
    public bool SkipCorruptFrames { get; init; }

    /// <summary>Time limits per FFmpeg process: in all, and without output.</summary>
    public ToolLimits Limits { get; init; } = ToolLimits.Decode;

    public PlannerOptions Planner { get; init; } = new();

    public ProbeOptions Probe { get; init; } = new();
}

/// <summary>
/// Decodes sampled frames of one video through Debian's FFmpeg, streamed with back-pressure: memory stays at a few
/// frames whatever the length of the video. Frames are selected inside FFmpeg by presentation timestamp (each target
/// owns the interval between its neighbours' timestamps), so every delivered frame is the exact frame the sampler asked
/// for, with the timestamp the decoder reported for it. Frames come in presentation order; a frame requested several
/// times is delivered once per request.
/// </summary>
public sealed class VideoDecoder
{
    private readonly DecoderOptions _options;

    public VideoDecoder(VideoMetadata metadata, DecoderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        Metadata = metadata;
        _options = options ?? new DecoderOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.Threads);
    }

    public VideoMetadata Metadata { get; }

    /// <summary>Probes <paramref name="path"/> and returns a decoder for it.</summary>
    public static async Task<VideoDecoder> OpenAsync(string path, DecoderOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new DecoderOptions();
        VideoMetadata metadata = await VideoProbe.ProbeAsync(path, options.Probe, cancellationToken).ConfigureAwait(false);
        return new VideoDecoder(metadata, options);
    }

    /// <summary>Chooses a decode mode for <paramref name="samples"/>.</summary>
    public DecodePlan Plan(SamplePlan samples) => DecodePlanner.Plan(Metadata, samples, _options.Planner);

    /// <summary>Plans and decodes the sampled frames.</summary>
    public IAsyncEnumerable<VideoFrame> DecodeAsync(SamplePlan samples, FrameFormat format, IProgress<DecodeProgress>? progress = null,
        CancellationToken cancellationToken = default) => DecodeAsync(Plan(samples), format, progress, cancellationToken);

    /// <summary>The frames on screen at the given times.</summary>
    public IAsyncEnumerable<VideoFrame> GetFramesPlayedAtAsync(IReadOnlyList<double> seconds, FrameFormat format, CancellationToken cancellationToken = default) =>
        DecodeAsync(FrameSamplers.PlayedAt(Metadata.Timeline, seconds), format, null, cancellationToken);

    /// <summary>Frames at a fixed rate over the half-open range [start, stop).</summary>
    public IAsyncEnumerable<VideoFrame> GetFramesPlayedInRangeAsync(double start, double stop, double fps, FrameFormat format, CancellationToken cancellationToken = default) =>
        DecodeAsync(FrameSamplers.Fps(Metadata.Timeline, fps, new TimeRange(start, stop)), format, null, cancellationToken);

    /// <summary>Decodes according to an existing plan.</summary>
    public async IAsyncEnumerable<VideoFrame> DecodeAsync(DecodePlan plan, FrameFormat format, IProgress<DecodeProgress>? progress = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(format);
        VideoTimeline timeline = Metadata.Timeline;
        (int width, int height, string filters) = format.Plan(Metadata.DisplayWidth, Metadata.DisplayHeight,
            Metadata.SampleAspectRatio.Numerator == Metadata.SampleAspectRatio.Denominator);

        // Requests grouped by the frame that serves them (keyframe-only decoding serves non-key targets with the nearest keyframe).
        bool keyframesOnly = plan.Mode == DecodeMode.KeyframesOnly;
        var byTarget = new SortedDictionary<int, List<int>>();
        for (int i = 0; i < plan.Samples.Count; i++)
        {
            FrameRequest request = plan.Samples.Frames[i];
            int target = keyframesOnly && !timeline.IsKeyframe(request.FrameIndex)
                ? timeline.NearestKeyframe(timeline.PtsSeconds[request.FrameIndex])
                : request.FrameIndex;
            if (!byTarget.TryGetValue(target, out List<int>? list))
            {
                byTarget[target] = list = [];
            }

            list.Add(i);
        }

        int[] targets = byTarget.Keys.ToArray();
        IEnumerable<(int[] Targets, int SeekFrom)> passes = plan.Mode == DecodeMode.SeekPerSample
            ? targets.Select(t => (new[] { t }, timeline.KeyframeAtOrBefore(t)))
            : [(targets, timeline.KeyframeAtOrBefore(targets[0]))];

        int delivered = 0;
        int total = plan.Samples.Count;
        progress?.Report(new DecodeProgress(0, total));
        foreach ((int[] passTargets, int seekFrom) in passes)
        {
            await foreach ((int target, double pts, byte[] rgb) in RunPassAsync(passTargets, seekFrom, keyframesOnly, width, height, filters, cancellationToken).ConfigureAwait(false))
            {
                List<int> requests = byTarget[target];
                for (int r = 0; r < requests.Count; r++)
                {
                    FrameRequest request = plan.Samples.Frames[requests[r]];
                    yield return new VideoFrame
                    {
                        SampleIndex = requests[r],
                        FrameIndex = target,
                        RequestedSeconds = request.RequestedSeconds,
                        PtsSeconds = pts,
                        DurationSeconds = timeline.FrameDuration(target),
                        IsKeyframe = timeline.IsKeyframe(target),
                        Approximate = target != request.FrameIndex,
                        Width = width,
                        Height = height,
                        Rgb24 = r == 0 ? rgb : Copy(rgb),
                    };
                    progress?.Report(new DecodeProgress(++delivered, total));
                }
            }
        }
    }

    /// <summary>One FFmpeg process that delivers the frames <paramref name="targets"/> (sorted, distinct).</summary>
    private async IAsyncEnumerable<(int Target, double Pts, byte[] Rgb)> RunPassAsync(int[] targets, int seekFrom, bool keyframesOnly,
        int width, int height, string filters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long[] raw = Metadata.RawPts;
        double tb = Metadata.TimeBase.Value;
        string script = Path.Combine(Path.GetTempPath(), $"videolong-{Guid.NewGuid():N}.filter");
        await File.WriteAllTextAsync(script, $"select='{SelectExpression(targets, raw, tb)}',showinfo,{filters}", cancellationToken).ConfigureAwait(false);

        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" };
        if (_options.Threads > 0)
        {
            args.AddRange(["-threads", _options.Threads.ToString(CultureInfo.InvariantCulture)]);
        }

        if (keyframesOnly)
        {
            args.AddRange(["-skip_frame", "nokey"]);
        }

        args.Add("-copyts");
        if (seekFrom > 0)
        {
            // Seek to the keyframe before the first target (FFmpeg adds the container start time itself).
            args.AddRange(["-noaccurate_seek", "-ss", Metadata.Timeline.PtsSeconds[seekFrom].ToString("R", CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-i", "file:" + Metadata.Path, "-map", "0:" + Metadata.StreamIndex.ToString(CultureInfo.InvariantCulture), "-an", "-sn", "-dn",
            "-filter_script:v", script, "-fps_mode", "passthrough", "-frames:v", targets.Length.ToString(CultureInfo.InvariantCulture),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);

        var shown = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Rational filterTimeBase = Metadata.TimeBase;
        void OnStderr(string line)
        {
            if (!line.Contains("Parsed_showinfo", StringComparison.Ordinal))
            {
                return;
            }

            int configAt = line.IndexOf("config in time_base: ", StringComparison.Ordinal);
            if (configAt >= 0)
            {
                string value = line[(configAt + 21)..].Split(',')[0];
                Rational r = Rational.Parse(value);
                if (r.IsValid)
                {
                    filterTimeBase = r;
                }

                return;
            }

            int ptsAt = line.IndexOf(" pts:", StringComparison.Ordinal);
            if (line.Contains(" n:", StringComparison.Ordinal) && ptsAt >= 0)
            {
                string value = line[(ptsAt + 5)..].TrimStart().Split(' ')[0];
                if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long pts))
                {
                    shown.Writer.TryWrite(pts);
                }
            }
        }

        int frameBytes = checked(width * height * 3);
        int received = 0;
        try
        {
            await using ToolProcess process = ToolProcess.Start(MediaTools.Ffmpeg, args, _options.Limits, OnStderr, cancellationToken);
            _ = process.StderrCompleted.ContinueWith(_ => shown.Writer.TryComplete(), TaskScheduler.Default);
            Stream stdout = process.StandardOutput;
            for (int k = 0; k < targets.Length; k++)
            {
                byte[] rgb = FrameBufferPool.Rent(frameBytes);
                int got = await ReadFullyAsync(stdout, rgb, process, cancellationToken).ConfigureAwait(false);
                if (got < frameBytes)
                {
                    FrameBufferPool.Return(rgb);
                    break;
                }

                if (!await shown.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !shown.Reader.TryRead(out long pts))
                {
                    throw new DecodeException(Metadata.Path, null, "FFmpeg delivered a frame without reporting its timestamp.");
                }

                double ptsSeconds = filterTimeBase.ToSeconds(pts) - Metadata.StartSeconds;
                int target = Owner(targets, ptsSeconds);
                received++;
                process.PauseClocks();       // the consumer's time is not FFmpeg's
                yield return (target, ptsSeconds, rgb);
                process.ResumeClocks();
            }

            process.ThrowIfTimedOut();
            int exit = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (received < targets.Length && !_options.SkipCorruptFrames)
            {
                double? last = received > 0 ? Metadata.Timeline.PtsSeconds[targets[received - 1]] : null;
                throw new DecodeException(Metadata.Path, last,
                    $"Decoding '{Metadata.Path}' delivered {received} of {targets.Length} frames (ffmpeg exit {exit}): {LastError(process.StderrTail)}. " +
                    "The file may be truncated or corrupt; DecoderOptions.SkipCorruptFrames skips undecodable frames.");
            }
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>The target whose interval holds <paramref name="ptsSeconds"/>.</summary>
    private int Owner(int[] targets, double ptsSeconds)
    {
        VideoTimeline timeline = Metadata.Timeline;
        int frame = timeline.FramePlayedAt(ptsSeconds + 1e-9);
        // The decoder's timestamp should be exactly the indexed one; take the nearest frame of the index to be robust.
        if (frame + 1 < timeline.FrameCount && timeline.PtsSeconds[frame + 1] - ptsSeconds < ptsSeconds - timeline.PtsSeconds[frame])
        {
            frame++;
        }

        int i = Array.BinarySearch(targets, frame);
        if (i < 0)
        {
            throw new DecodeException(Metadata.Path, ptsSeconds,
                string.Create(CultureInfo.InvariantCulture, $"FFmpeg delivered a frame at {ptsSeconds:0.######} s that was not requested; the container's timestamps disagree with its packets."));
        }

        return targets[i];
    }

    /// <summary>
    /// An FFmpeg expression true for the frames in <paramref name="targets"/>: each target owns [mid(prev, t), mid(t, next))
    /// in seconds (absolute, as <c>t</c> is with <c>-copyts</c>), tested through a balanced tree of <c>if</c> so a frame
    /// costs O(log n) comparisons however many targets there are.
    /// </summary>
    internal static string SelectExpression(int[] targets, long[] rawPts, double timeBase)
    {
        double Lo(int f) => f == 0 ? double.MinValue / 4 : (rawPts[f - 1] + rawPts[f]) * timeBase / 2;
        double Hi(int f) => f == rawPts.Length - 1 ? double.MaxValue / 4 : (rawPts[f] + rawPts[f + 1]) * timeBase / 2;
        static string N(double x) => x.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

        var sb = new StringBuilder();
        void Build(int from, int to)
        {
            if (to - from == 1)
            {
                int f = targets[from];
                sb.Append("gte(t,").Append(N(Lo(f))).Append(")*lt(t,").Append(N(Hi(f))).Append(')');
                return;
            }

            int mid = (from + to) / 2;
            sb.Append("if(lt(t,").Append(N(Lo(targets[mid]))).Append("),");
            Build(from, mid);
            sb.Append(',');
            Build(mid, to);
            sb.Append(')');
        }

        Build(0, targets.Length);
        return sb.ToString();
    }

    private static byte[] Copy(byte[] source)
    {
        byte[] copy = FrameBufferPool.Rent(source.Length);
        source.CopyTo(copy, 0);
        return copy;
    }

    private static async Task<int> ReadFullyAsync(Stream stream, byte[] buffer, ToolProcess process, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            process.Touch();
            total += read;
        }

        return total;
    }

    private static string LastError(string stderrTail)
    {
        string[] lines = stderrTail.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.Contains("Parsed_showinfo", StringComparison.Ordinal)).ToArray();
        string? error = lines.LastOrDefault(l => l.Contains("rror", StringComparison.Ordinal) || l.Contains("nvalid", StringComparison.Ordinal))
                        ?? lines.LastOrDefault();
        return error ?? "no message";
    }
}
