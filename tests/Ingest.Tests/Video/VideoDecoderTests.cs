using System.Globalization;

namespace VideoLong.Ingest.Tests.Video;

[Collection(nameof(VideoCollection))]
public sealed class When_a_video_is_probed(TestVideos videos)
{
    [Fact]
    public async Task It_reports_container_codec_timing_and_keyframes()
    {
        VideoMetadata meta = await VideoProbe.ProbeAsync(videos.Mp4);
        Assert.Contains("mp4", meta.Container, StringComparison.Ordinal);
        Assert.Equal("h264", meta.Codec);
        Assert.Equal((160, 120), (meta.Width, meta.Height));
        Assert.Equal(new Rational(25, 1), meta.FrameRate);
        Assert.Equal(100, meta.FrameCount);
        Assert.Equal(4.0, meta.DurationSeconds, 2);
        Assert.True(meta.HasAudio);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => Math.Round(i * 0.4, 6)), meta.KeyframeSeconds.Select(s => Math.Round(s, 6)));
    }

    [Fact]
    public async Task The_frame_index_matches_ffprobes_decoded_frame_list()
    {
        foreach (string file in new[] { videos.Mp4, videos.Mkv, videos.Webm, videos.Avi })
        {
            VideoMetadata meta = await VideoProbe.ProbeAsync(file);
            double[] reference = ReferenceFrameTimes(file);
            Assert.Equal(reference.Length, meta.FrameCount);
            for (int i = 0; i < reference.Length; i++)
            {
                Assert.Equal(reference[i], meta.Timeline.PtsSeconds[i], 6);
            }
        }
    }

    [Fact]
    public async Task Rotation_swaps_the_display_size()
    {
        VideoMetadata meta = await VideoProbe.ProbeAsync(videos.Rotated);
        Assert.Equal(90, Math.Abs(meta.Rotation));
        Assert.Equal((120, 160), (meta.DisplayWidth, meta.DisplayHeight));
    }

    [Fact]
    public async Task Non_square_pixels_widen_the_display_size()
    {
        VideoMetadata meta = await VideoProbe.ProbeAsync(videos.Anamorphic);
        Assert.Equal(new Rational(2, 1), meta.SampleAspectRatio);
        Assert.Equal((320, 120), (meta.DisplayWidth, meta.DisplayHeight));
    }

    /// <summary>Presentation times from ffprobe's decoded frame list, relative to the container start.</summary>
    internal static double[] ReferenceFrameTimes(string file)
    {
        double start = double.Parse(Tool.Run("ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", file).Trim(), CultureInfo.InvariantCulture);
        return Tool.Run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0", file)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.Parse(s.TrimEnd(','), CultureInfo.InvariantCulture) - start)
            .Order()
            .ToArray();
    }
}

[Collection(nameof(VideoCollection))]
public sealed class When_frames_are_decoded(TestVideos videos)
{
    public static TheoryData<string, DecodeMode> Cases()
    {
        var data = new TheoryData<string, DecodeMode>();
        foreach (string file in new[] { "mp4", "mkv", "webm", "avi" })
        {
            data.Add(file, DecodeMode.Sequential);
            data.Add(file, DecodeMode.SeekPerSample);
        }

        return data;
    }

    private string File(string kind) => kind switch
    {
        "mp4" => videos.Mp4,
        "mkv" => videos.Mkv,
        "webm" => videos.Webm,
        _ => videos.Avi,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_mode_returns_the_requested_frames_with_ffprobes_timestamps_and_ffmpegs_pixels(string kind, DecodeMode mode)
    {
        string file = File(kind);
        var decoder = await VideoDecoder.OpenAsync(file, new DecoderOptions { Planner = new PlannerOptions { Force = mode } });
        double[] reference = When_a_video_is_probed.ReferenceFrameTimes(file);
        int count = decoder.Metadata.FrameCount;
        int[] wanted = [1, count / 3, count / 2 + 1, count - 1];
        SamplePlan samples = FrameSamplers.PlayedAt(decoder.Metadata.Timeline, wanted.Select(i => reference[i]).ToArray());

        List<VideoFrame> frames = await ToListAsync(decoder.DecodeAsync(samples, FrameFormat.Model(32, 24, ResizeMode.Stretch)));

        Assert.Equal(wanted, frames.Select(f => f.FrameIndex));
        for (int k = 0; k < wanted.Length; k++)
        {
            Assert.Equal(reference[wanted[k]], frames[k].PtsSeconds, 6);
            Assert.False(frames[k].Approximate);
            Assert.Equal(32 * 24 * 3, frames[k].Rgb24.Length);
            byte[] expected = Tool.RunBytes("ffmpeg", "-v", "error", "-i", file, "-vf", $"select=eq(n\\,{wanted[k]}),scale=32:24,setsar=1,format=rgb24",
                "-fps_mode", "passthrough", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
            Assert.Equal(expected, frames[k].Rgb24);
        }
    }

    [Fact]
    public async Task Keyframe_only_decoding_returns_the_nearest_keyframes_and_says_so()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4, new DecoderOptions { Planner = new PlannerOptions { AllowApproximate = true } });
        SamplePlan samples = FrameSamplers.PlayedAt(decoder.Metadata.Timeline, [0.0, 0.44, 1.0, 2.0, 3.9]);
        DecodePlan plan = decoder.Plan(samples);
        Assert.Equal(DecodeMode.KeyframesOnly, plan.Mode);
        Assert.True(plan.Approximate);

        List<VideoFrame> frames = await ToListAsync(decoder.DecodeAsync(plan, FrameFormat.Native));
        Assert.Equal([0.0, 0.4, 0.8, 2.0, 3.6], frames.Select(f => Math.Round(f.PtsSeconds, 6)));
        Assert.Equal([false, true, true, false, true], frames.Select(f => f.Approximate));
        Assert.All(frames, f => Assert.True(f.IsKeyframe));
        Assert.Equal([0.0, 0.44, 1.0, 2.0, 3.9], frames.Select(f => f.RequestedSeconds));
    }

    [Fact]
    public async Task A_frame_requested_twice_is_delivered_twice_in_request_order()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4);
        SamplePlan samples = FrameSamplers.DynamicFps1(new VideoTimeline([.. decoder.Metadata.Timeline.PtsSeconds.Take(2)], [0], 0.08, 25));
        List<VideoFrame> frames = await ToListAsync(decoder.DecodeAsync(samples, FrameFormat.Native));
        Assert.Equal([0, 1, 1, 1], frames.Select(f => f.FrameIndex));
        Assert.Equal([0, 1, 2, 3], frames.Select(f => f.SampleIndex));
        Assert.Equal(frames[1].Rgb24, frames[3].Rgb24);
        Assert.NotSame(frames[1].Rgb24, frames[3].Rgb24);
    }

    [Fact]
    public async Task A_rotated_video_is_delivered_upright_at_the_display_size()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Rotated);
        List<VideoFrame> frames = await ToListAsync(decoder.GetFramesPlayedAtAsync([1.0], FrameFormat.Native));
        Assert.Equal((120, 160), (frames[0].Width, frames[0].Height));
    }

    [Theory]
    [InlineData(ResizeMode.Fit, 64, 48)]
    [InlineData(ResizeMode.Pad, 64, 64)]
    [InlineData(ResizeMode.Crop, 64, 64)]
    public async Task Resize_modes_give_the_planned_size(ResizeMode mode, int w, int h)
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4);
        List<VideoFrame> frames = await ToListAsync(decoder.GetFramesPlayedInRangeAsync(0, 1, 2, FrameFormat.Model(64, 64, mode)));
        Assert.Equal(2, frames.Count);
        Assert.All(frames, f => Assert.Equal((w, h, w * h * 3), (f.Width, f.Height, f.Rgb24.Length)));
        if (mode == ResizeMode.Pad)
        {
            Assert.All(frames[0].Rgb24.AsSpan(0, 64 * 8 * 3).ToArray(), b => Assert.Equal(0, b));   // black band on top
        }
    }

    [Fact]
    public async Task Progress_counts_every_delivered_frame()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4);
        var seen = new List<DecodeProgress>();
        var progress = new SyncProgress<DecodeProgress>(seen.Add);
        await ToListAsync(decoder.DecodeAsync(FrameSamplers.Fps(decoder.Metadata.Timeline, 1), FrameFormat.Native, progress));
        Assert.Equal(new DecodeProgress(0, 4), seen[0]);
        Assert.Equal(new DecodeProgress(4, 4), seen[^1]);
    }

    [Fact]
    public async Task Stopping_early_kills_ffmpeg_and_cancellation_is_honoured()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4);
        await foreach (VideoFrame _ in decoder.DecodeAsync(FrameSamplers.Fps(decoder.Metadata.Timeline, 10), FrameFormat.Native))
        {
            break;
        }

        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await ToListAsync(decoder.DecodeAsync(FrameSamplers.Fps(decoder.Metadata.Timeline, 1), FrameFormat.Native, null, cts.Token)));
    }

    [Theory]
    [InlineData(300, 30_000)]      // the overall limit runs out
    [InlineData(30_000, 300)]      // the tool stops producing output
    public async Task A_hung_ffmpeg_is_killed_with_its_children_at_the_limit(int timeoutMs, int inactivityMs)
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4, new DecoderOptions
        {
            Limits = new ToolLimits(TimeSpan.FromMilliseconds(timeoutMs), TimeSpan.FromMilliseconds(inactivityMs)),
        });
        using var hung = new HungTool(videos);
        Environment.SetEnvironmentVariable(Tools.MediaTools.FfmpegEnvironmentVariable, hung.Script);
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<MediaToolTimeoutException>(async () =>
                await ToListAsync(decoder.GetFramesPlayedAtAsync([1.0], FrameFormat.Native)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
            Assert.Contains("was stopped", e.Message, StringComparison.Ordinal);
            hung.AssertChildKilled();
        }
        finally
        {
            Environment.SetEnvironmentVariable(Tools.MediaTools.FfmpegEnvironmentVariable, null);
        }
    }

    [Fact]
    public async Task A_slow_consumer_does_not_count_against_ffmpegs_limits()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4, new DecoderOptions
        {
            Limits = new ToolLimits(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(300)),
        });
        int count = 0;
        await foreach (VideoFrame frame in decoder.DecodeAsync(FrameSamplers.Fps(decoder.Metadata.Timeline, 1), FrameFormat.Native))
        {
            await Task.Delay(400);       // longer than the inactivity limit; all four together longer than the overall limit
            count++;
        }

        Assert.Equal(4, count);
    }

    internal static async Task<List<VideoFrame>> ToListAsync(IAsyncEnumerable<VideoFrame> frames)
    {
        var list = new List<VideoFrame>();
        await foreach (VideoFrame f in frames)
        {
            list.Add(f);
        }

        return list;
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>A stand-in for FFmpeg that hangs: a shell script whose child sleeps, recording the child's pid.</summary>
internal sealed class HungTool : IDisposable
{
    private readonly string _pidFile;

    public HungTool(TempMedia media)
    {
        string id = Guid.NewGuid().ToString("N")[..8];
        _pidFile = media.PathOf($"hung-{id}.pid");
        Script = media.PathOf($"hung-{id}.sh");
        File.WriteAllText(Script, $"#!/bin/sh\nsleep 60 &\necho $! > {_pidFile}\nwait\n");
        File.SetUnixFileMode(Script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Script { get; }

    /// <summary>The sleeping child must be gone too (killed with the tree, not orphaned).</summary>
    public void AssertChildKilled()
    {
        int pid = int.Parse(File.ReadAllText(_pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        for (int i = 0; i < 50 && IsAlive(pid); i++)
        {
            Thread.Sleep(20);
        }

        Assert.False(IsAlive(pid), $"child {pid} survived");
    }

    private static bool IsAlive(int pid)
    {
        string stat = $"/proc/{pid}/stat";
        return File.Exists(stat) && !File.ReadAllText(stat).Contains(") Z ", StringComparison.Ordinal);
    }

    public void Dispose()
    {
    }
}
