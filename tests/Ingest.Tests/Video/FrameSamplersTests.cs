namespace VideoLong.Ingest.Tests.Video;

// ALGORITHMS.md §8.1 (frame sampler items), §1.2 and §4.1.
public sealed class When_sampling_with_dynamic_fps1
{
    [Theory]
    [InlineData(300, 30, 300)]       // 300 s @ 30 fps -> 300 frames
    [InlineData(30, 30, 64)]         // 30 s -> the lower bound wins
    [InlineData(7200, 30, 512)]      // 2 h -> the upper bound wins
    [InlineData(301, 25, 300)]       // rounded down to a multiple of the clip length
    public void It_chooses_the_reference_frame_count(int seconds, int fps, int expected)
    {
        var timeline = VideoTimeline.ConstantRate(seconds * fps, fps);
        SamplePlan plan = FrameSamplers.DynamicFps1(timeline);
        Assert.Equal(expected, plan.Count);
        Assert.Equal(plan.Count, plan.Frames.Select(f => f.FrameIndex).Distinct().Count());
    }

    [Fact]
    public void A_video_with_fewer_than_64_frames_falls_back_to_a_multiple_of_the_clip_length()
    {
        var timeline = VideoTimeline.ConstantRate(50, 30);      // 1.67 s: segments = 0, min lowered to 48
        SamplePlan plan = FrameSamplers.DynamicFps1(timeline);
        Assert.Equal(48, plan.Count);
        Assert.Equal(48, FrameSamplers.DynamicFps1Count(50, 30));
    }

    [Theory]
    [InlineData(65, 10)]
    [InlineData(1000, 24)]
    [InlineData(100, 30)]
    [InlineData(5000, 60)]
    public void The_count_is_a_multiple_of_the_clip_length_unless_the_lower_bound_clamps(int frames, double fps)
    {
        int n = FrameSamplers.DynamicFps1Count(frames, fps);
        Assert.True(n % 4 == 0 || n == 64, $"{n}");
    }

    [Fact]
    public void Frame_indices_are_interval_midpoints()
    {
        Assert.Equal([12, 37, 62, 87], FrameSamplers.MiddleIndices(100, 4, pad: false));
        Assert.Equal([0, 1, 2, 2, 2], FrameSamplers.MiddleIndices(3, 5, pad: true));
        Assert.Equal([0, 1, 2], FrameSamplers.MiddleIndices(3, 5, pad: false));
    }

    [Fact]
    public void A_two_frame_video_is_padded_by_repeating_the_last_index()
    {
        var timeline = VideoTimeline.ConstantRate(2, 30);
        SamplePlan plan = FrameSamplers.DynamicFps1(timeline);
        Assert.Equal([0, 1, 1, 1], plan.Frames.Select(f => f.FrameIndex));
        Assert.Throws<SamplingRangeException>(() => FrameSamplers.DynamicFps1(timeline, policy: OutOfRangePolicy.Error));
    }
}

public sealed class When_sampling_at_a_fixed_rate
{
    private readonly VideoTimeline _tenSeconds = VideoTimeline.ConstantRate(250, 25, gop: 50);

    [Fact]
    public void It_takes_the_frame_on_screen_at_each_tick()
    {
        SamplePlan plan = FrameSamplers.Fps(_tenSeconds, 1);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 25), plan.Frames.Select(f => f.FrameIndex));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (double)i), plan.Frames.Select(f => f.RequestedSeconds));
    }

    [Fact]
    public void A_range_is_half_open()
    {
        SamplePlan plan = FrameSamplers.Fps(_tenSeconds, 1, new TimeRange(2, 5));
        Assert.Equal([50, 75, 100], plan.Frames.Select(f => f.FrameIndex));
    }

    [Fact]
    public void A_rate_above_the_videos_repeats_frames()
    {
        var timeline = VideoTimeline.ConstantRate(10, 5);     // 2 s at 5 fps
        SamplePlan plan = FrameSamplers.Fps(timeline, 10);
        Assert.Equal(20, plan.Count);
        Assert.Equal(plan.Frames[0].FrameIndex, plan.Frames[1].FrameIndex);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void An_invalid_rate_is_refused(double fps) =>
        Assert.Throws<SamplingRangeException>(() => FrameSamplers.Fps(_tenSeconds, fps));
}

public sealed class When_a_range_is_out_of_the_video
{
    private readonly VideoTimeline _hour = VideoTimeline.ConstantRate(3600, 1);

    [Fact]
    public void The_error_policy_states_the_valid_range()
    {
        var e = Assert.Throws<SamplingRangeException>(() => FrameSamplers.Fps(_hour, 1, new TimeRange(3605.2, 3700)));
        Assert.Equal("Invalid start 3605.2 s: must be ≥ 0 and < 3600 s (video duration).", e.Message);
        e = Assert.Throws<SamplingRangeException>(() => FrameSamplers.Fps(_hour, 1, new TimeRange(10, 4000)));
        Assert.Contains("Invalid end 4000 s", e.Message, StringComparison.Ordinal);
        Assert.Throws<SamplingRangeException>(() => FrameSamplers.Fps(_hour, 1, new TimeRange(10, 5)));
    }

    [Fact]
    public void The_clamp_policy_keeps_the_part_inside_the_video()
    {
        SamplePlan plan = FrameSamplers.Fps(_hour, 1, new TimeRange(3590, 4000), OutOfRangePolicy.Clamp);
        Assert.Equal(10, plan.Count);
        Assert.Equal(3599, plan.Frames[^1].FrameIndex);
    }

    [Fact]
    public void A_range_with_no_frame_is_refused_under_every_policy()
    {
        foreach (OutOfRangePolicy policy in Enum.GetValues<OutOfRangePolicy>())
        {
            Assert.Throws<SamplingRangeException>(() => FrameSamplers.Fps(_hour, 1, new TimeRange(5000, 6000), policy));
        }
    }

    [Fact]
    public void Times_outside_the_video_follow_the_policy()
    {
        Assert.Throws<SamplingRangeException>(() => FrameSamplers.PlayedAt(_hour, [1, 3600]));
        SamplePlan plan = FrameSamplers.PlayedAt(_hour, [-5, 1.5, 9999], OutOfRangePolicy.Clamp);
        Assert.Equal([0, 1, 3599], plan.Frames.Select(f => f.FrameIndex));
    }
}

public sealed class When_sampling_n_frames_uniformly
{
    [Fact]
    public void Asking_for_more_frames_than_exist_follows_the_policy()
    {
        var timeline = VideoTimeline.ConstantRate(10, 10);
        var e = Assert.Throws<SamplingRangeException>(() => FrameSamplers.Uniform(timeline, 16));
        Assert.Contains("holds only 10", e.Message, StringComparison.Ordinal);
        Assert.Equal(10, FrameSamplers.Uniform(timeline, 16, policy: OutOfRangePolicy.Clamp).Count);
        SamplePlan padded = FrameSamplers.Uniform(timeline, 16, policy: OutOfRangePolicy.RepeatLast);
        Assert.Equal(16, padded.Count);
        Assert.All(padded.Frames.Skip(10), f => Assert.Equal(9, f.FrameIndex));
    }

    [Fact]
    public void Midpoints_are_taken_inside_the_range()
    {
        var timeline = VideoTimeline.ConstantRate(200, 10);   // 20 s
        SamplePlan plan = FrameSamplers.Uniform(timeline, 4, new TimeRange(10, 20));
        Assert.Equal([112, 137, 162, 187], plan.Frames.Select(f => f.FrameIndex));
    }
}

public sealed class When_sampling_like_LongVILA
{
    [Fact]
    public void A_long_video_gets_n_frames_from_linspace_truncated()
    {
        var timeline = VideoTimeline.ConstantRate(1000, 25);   // 40 s >= 8 / 2 fps
        SamplePlan plan = FrameSamplers.LongVila(timeline, 8);
        // numpy: np.linspace(0, 999, 8).astype(int)
        Assert.Equal([0, 142, 285, 428, 570, 713, 856, 999], plan.Frames.Select(f => f.FrameIndex));
    }

    [Fact]
    public void A_short_video_gets_duration_times_max_fps_frames()
    {
        var timeline = VideoTimeline.ConstantRate(75, 25);     // 3 s < 256 / 2 fps
        SamplePlan plan = FrameSamplers.LongVila(timeline, 256, maxFps: 2);
        Assert.Equal([0, 14, 29, 44, 59, 74], plan.Frames.Select(f => f.FrameIndex));
    }
}

public sealed class When_sampling_keyframes
{
    [Fact]
    public void It_returns_the_keyframes_of_the_range()
    {
        var timeline = VideoTimeline.ConstantRate(300, 30, gop: 60);   // keyframes every 2 s
        SamplePlan plan = FrameSamplers.Keyframes(timeline, new TimeRange(1, 9));
        Assert.True(plan.KeyframesOnly);
        Assert.Equal([60, 120, 180, 240], plan.Frames.Select(f => f.FrameIndex));
        Assert.Equal(2, FrameSamplers.Keyframes(timeline, maxCount: 2).Count);
    }
}

public sealed class When_looking_up_frames_in_a_timeline
{
    [Fact]
    public void Timestamps_map_to_the_frame_on_screen_and_to_keyframes()
    {
        var timeline = VideoTimeline.ConstantRate(100, 10, gop: 25);
        Assert.Equal(12, timeline.FramePlayedAt(1.25));
        Assert.Equal(0, timeline.FramePlayedAt(-3));
        Assert.Equal(25, timeline.KeyframeAtOrBefore(49));
        Assert.Equal(50, timeline.NearestKeyframe(4.0));
        Assert.Equal(25, timeline.NearestKeyframe(3.75));   // tie goes to the earlier keyframe
        Assert.Equal(0.1, timeline.FrameDuration(5), 9);
    }

    [Fact]
    public void Timestamps_that_do_not_increase_are_refused() =>
        Assert.Throws<ArgumentException>(() => new VideoTimeline([0, 1, 1], [0], 2, 1));
}
