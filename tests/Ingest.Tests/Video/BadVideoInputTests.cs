namespace VideoLong.Ingest.Tests.Video;

[Collection(nameof(VideoCollection))]
public sealed class When_a_video_input_is_bad(TestVideos videos)
{
    [Fact]
    public async Task A_missing_file_is_named()
    {
        var e = await Assert.ThrowsAsync<MediaNotFoundException>(() => VideoProbe.ProbeAsync(videos.PathOf("nope.mp4")));
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_is_refused()
    {
        var e = await Assert.ThrowsAsync<MediaNotFoundException>(() => VideoProbe.ProbeAsync(videos.Root));
        Assert.Contains("is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_file_is_refused()
    {
        string path = videos.PathOf("empty.mp4");
        await File.WriteAllBytesAsync(path, []);
        var e = await Assert.ThrowsAsync<InvalidMediaException>(() => VideoProbe.ProbeAsync(path));
        Assert.Contains("is empty", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Random_bytes_named_mp4_are_refused()
    {
        string path = videos.PathOf("random.mp4");
        await File.WriteAllBytesAsync(path, RandomBytes(100_000));
        var e = await Assert.ThrowsAsync<InvalidMediaException>(() => VideoProbe.ProbeAsync(path));
        Assert.Contains("not a media file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_mp4_without_its_index_is_refused()
    {
        string path = videos.PathOf("truncated.mp4");
        byte[] whole = await File.ReadAllBytesAsync(videos.Mp4);     // moov at the end: cut it off
        await File.WriteAllBytesAsync(path, whole[..(whole.Length / 2)]);
        await Assert.ThrowsAsync<InvalidMediaException>(() => VideoProbe.ProbeAsync(path));
    }

    [Fact]
    public async Task A_truncated_streamable_mp4_probes_what_is_there_and_warns()
    {
        string full = videos.Make("faststart.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "4", "-c:v", "libx264",
            "-movflags", "+faststart");
        string path = videos.PathOf("faststart-cut.mp4");
        byte[] whole = await File.ReadAllBytesAsync(full);
        await File.WriteAllBytesAsync(path, whole[..(whole.Length / 3)]);
        VideoMetadata meta = await VideoProbe.ProbeAsync(path);
        Assert.InRange(meta.FrameCount, 1, 99);
        Assert.Contains(meta.Warnings, w => w.Contains("truncated", StringComparison.Ordinal));
        var decoder = new VideoDecoder(meta);
        List<VideoFrame> frames = await When_frames_are_decoded.ToListAsync(decoder.DecodeAsync(FrameSamplers.Uniform(meta.Timeline, 3), FrameFormat.Native));
        Assert.Equal(3, frames.Count);
    }

    [Fact]
    public async Task An_audio_only_file_has_no_video_stream()
    {
        string path = videos.Make("audio.m4a", "-f", "lavfi", "-i", "sine=f=440", "-t", "1");
        var e = await Assert.ThrowsAsync<NoVideoStreamException>(() => VideoProbe.ProbeAsync(path));
        Assert.Contains("audio", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_zero_length_video_is_empty()
    {
        string path = videos.Make("zero.mp4", "-f", "lavfi", "-i", "testsrc2", "-frames:v", "0", "-c:v", "libx264");
        await Assert.ThrowsAsync<EmptyVideoException>(() => VideoProbe.ProbeAsync(path));
    }

    [Fact]
    public async Task An_unsupported_codec_is_named()
    {
        string avi = videos.Make("mjpeg.avi", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-t", "1", "-c:v", "mjpeg");
        byte[] bytes = await File.ReadAllBytesAsync(avi);
        ReplaceAll(bytes, "MJPG"u8, "ZQ9X"u8);   // a FourCC no decoder knows
        string path = videos.PathOf("unknown-codec.avi");
        await File.WriteAllBytesAsync(path, bytes);
        var e = await Assert.ThrowsAsync<UnsupportedCodecException>(() => VideoProbe.ProbeAsync(path));
        Assert.Contains("ZQ9X", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hung_probe_is_killed_with_its_children_at_the_limit()
    {
        var options = new ProbeOptions { Limits = new ToolLimits(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(30)) };
        using var hung = new HungTool(videos);
        Environment.SetEnvironmentVariable(Tools.MediaTools.FfprobeEnvironmentVariable, hung.Script);
        try
        {
            var e = await Assert.ThrowsAsync<MediaToolTimeoutException>(() => VideoProbe.ProbeAsync(videos.Mp4, options));
            Assert.Equal(Path.GetFileName(hung.Script), e.Tool);
            hung.AssertChildKilled();
        }
        finally
        {
            Environment.SetEnvironmentVariable(Tools.MediaTools.FfprobeEnvironmentVariable, null);
        }
    }

    [Fact]
    public async Task A_missing_ffmpeg_is_reported_with_how_to_install_it()
    {
        var decoder = await VideoDecoder.OpenAsync(videos.Mp4);
        Environment.SetEnvironmentVariable(Tools.MediaTools.FfmpegEnvironmentVariable, "/nonexistent/ffmpeg");
        try
        {
            var e = await Assert.ThrowsAsync<MediaToolMissingException>(async () =>
                await When_frames_are_decoded.ToListAsync(decoder.GetFramesPlayedAtAsync([0.0], FrameFormat.Native)));
            Assert.Contains("apt-get install", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Tools.MediaTools.FfmpegEnvironmentVariable, null);
        }
    }

    private static byte[] RandomBytes(int n)
    {
        byte[] b = new byte[n];
        new Random(42).NextBytes(b);
        return b;
    }

    private static void ReplaceAll(byte[] data, ReadOnlySpan<byte> from, ReadOnlySpan<byte> to)
    {
        for (int i = 0; i + from.Length <= data.Length; i++)
        {
            if (data.AsSpan(i, from.Length).SequenceEqual(from))
            {
                to.CopyTo(data.AsSpan(i));
            }
        }
    }
}
