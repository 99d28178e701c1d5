namespace VideoLong.Ingest.Tests.Video;

public sealed class When_planning_a_decode
{
    private static VideoMetadata Meta(VideoTimeline timeline, int width = 1280, int height = 720) => new()
    {
        Path = "/x.mp4", Container = "mp4", ContainerLongName = "", Codec = "h264", CodecLongName = "", PixelFormat = "yuv420p",
        StreamIndex = 0, Width = width, Height = height, Rotation = 0, DisplayWidth = width, DisplayHeight = height,
        SampleAspectRatio = new Rational(1, 1), FrameRate = new Rational(30, 1), TimeBase = new Rational(1, 30),
        DurationSeconds = timeline.DurationSeconds, StartSeconds = 0, HasAudio = false, Timeline = timeline,
    };

    [Fact]
    public void Dense_samples_in_short_gops_take_one_sequential_pass()
    {
        VideoMetadata meta = Meta(VideoTimeline.ConstantRate(18000, 30, gop: 60));   // 10 min, keyframe every 2 s
        DecodePlan plan = DecodePlanner.Plan(meta, FrameSamplers.Fps(meta.Timeline, 1));
        Assert.Equal(DecodeMode.Sequential, plan.Mode);
        Assert.False(plan.Approximate);
        Assert.Equal(3, plan.Alternatives.Count);
        Assert.Equal(17971, plan.Chosen.FramesDecoded);     // frames 0 .. 17970 (the last sample at 599 s)
    }

    [Fact]
    public void Sparse_samples_take_one_seek_each()
    {
        VideoMetadata meta = Meta(VideoTimeline.ConstantRate(108000, 30, gop: 30));  // 1 h, keyframe every second
        DecodePlan plan = DecodePlanner.Plan(meta, FrameSamplers.Uniform(meta.Timeline, 16));
        Assert.Equal(DecodeMode.SeekPerSample, plan.Mode);
        Assert.Equal(16, plan.Chosen.Processes);
        Assert.True(plan.Chosen.EstimatedSeconds < plan.Alternatives.Single(a => a.Mode == DecodeMode.Sequential).EstimatedSeconds);
    }

    [Fact]
    public void Keyframe_targets_are_decoded_exactly_from_keyframes_only()
    {
        VideoMetadata meta = Meta(VideoTimeline.ConstantRate(18000, 30, gop: 30));
        DecodePlan plan = DecodePlanner.Plan(meta, FrameSamplers.Fps(meta.Timeline, 0.5));  // every 2 s = every other keyframe
        Assert.Equal(DecodeMode.KeyframesOnly, plan.Mode);
        Assert.False(plan.Approximate);
        Assert.Equal("every requested frame is a keyframe", plan.Reason);
    }

    [Fact]
    public void Non_key_targets_use_keyframes_only_when_approximation_is_allowed()
    {
        VideoMetadata meta = Meta(VideoTimeline.ConstantRate(18000, 30, gop: 60));
        SamplePlan samples = FrameSamplers.Uniform(meta.Timeline, 64);
        Assert.NotEqual(DecodeMode.KeyframesOnly, DecodePlanner.Plan(meta, samples).Mode);
        DecodePlan plan = DecodePlanner.Plan(meta, samples, new PlannerOptions { AllowApproximate = true });
        Assert.Equal(DecodeMode.KeyframesOnly, plan.Mode);
        Assert.True(plan.Approximate);
    }

    [Fact]
    public void A_forced_mode_is_obeyed()
    {
        VideoMetadata meta = Meta(VideoTimeline.ConstantRate(300, 30, gop: 30));
        DecodePlan plan = DecodePlanner.Plan(meta, FrameSamplers.Fps(meta.Timeline, 1), new PlannerOptions { Force = DecodeMode.SeekPerSample });
        Assert.Equal(DecodeMode.SeekPerSample, plan.Mode);
        Assert.Equal("forced to SeekPerSample", plan.Reason);
    }
}

public sealed class When_a_frame_format_is_planned
{
    [Theory]
    [InlineData(ResizeMode.Stretch, 448, 448, "scale=448:448,setsar=1,format=rgb24")]
    [InlineData(ResizeMode.Fit, 448, 252, "scale=448:252,setsar=1,format=rgb24")]
    [InlineData(ResizeMode.Pad, 448, 448, "scale=448:252,pad=448:448:0:98:black,setsar=1,format=rgb24")]
    [InlineData(ResizeMode.Crop, 448, 448, "scale=797:448,crop=448:448:174:0,setsar=1,format=rgb24")]
    public void A_720p_frame_gets_the_exact_size_and_filters(ResizeMode mode, int w, int h, string filters)
    {
        (int width, int height, string f) = FrameFormat.Model(448, 448, mode).Plan(1280, 720, squarePixels: true);
        Assert.Equal((w, h, filters), (width, height, f));
    }

    [Fact]
    public void The_native_format_keeps_the_display_size() =>
        Assert.Equal((320, 240, "setsar=1,format=rgb24"), FrameFormat.Native.Plan(320, 240, squarePixels: true));

    [Theory]
    [InlineData("448x448", 448, 448)]
    [InlineData("64X32", 64, 32)]
    public void Sizes_parse(string text, int w, int h) => Assert.Equal((w, h), FrameFormat.ParseSize(text));

    [Theory]
    [InlineData("448")]
    [InlineData("0x10")]
    [InlineData("-4x4")]
    [InlineData("99999x10")]
    [InlineData("axb")]
    public void Bad_sizes_are_refused(string text) => Assert.Throws<VideoLongException>(() => FrameFormat.ParseSize(text));

    [Fact]
    public void A_size_without_a_resize_mode_is_refused() =>
        Assert.Throws<VideoLongException>(() => new FrameFormat { Width = 10, Height = 10 }.Validate());
}

public sealed class When_a_packet_line_is_parsed
{
    [Theory]
    [InlineData("1536,-512,512,__", 1536L, false, 512L)]
    [InlineData("0,-1024,512,K_", 0L, true, 512L)]
    [InlineData(" N/A,40,1,K_ ", 40L, true, 1L)]           // no pts: the dts stands in (AVI, raw streams)
    public void Timestamps_flags_and_duration_are_read(string line, long pts, bool key, long duration) =>
        Assert.Equal((pts, key, duration), VideoProbe.ParsePacket(line));

    [Theory]
    [InlineData("100,90,10,KD")]          // discarded by the demuxer
    [InlineData("N/A,N/A,10,K_")]         // no timestamp at all
    [InlineData("garbage")]
    [InlineData("")]
    public void Unusable_packets_are_skipped(string line) => Assert.Null(VideoProbe.ParsePacket(line));
}
