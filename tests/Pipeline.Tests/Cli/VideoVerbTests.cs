using System.Text.Json;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_probes_and_samples_a_video(TempMedia media)
{
    private string Video => File.Exists(media.PathOf("clip.mp4"))
        ? media.PathOf("clip.mp4")
        : media.Make("clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "6", "-c:v", "libx264", "-g", "25",
            "-sc_threshold", "0", "-pix_fmt", "yuv420p");

    [Fact]
    public async Task Probe_json_reports_the_video_and_its_keyframes()
    {
        var run = await CliRunner.RunAsync("probe", Video, "--json");
        Assert.Equal(0, run.Exit);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        JsonElement video = doc.RootElement.GetProperty("video");
        Assert.Equal("h264", video.GetProperty("codec").GetString());
        Assert.Equal(150, video.GetProperty("frameCount").GetInt32());
        Assert.Equal(0, video.GetProperty("rotation").GetInt32());
        Assert.Equal([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], video.GetProperty("keyframeSeconds").EnumerateArray().Select(e => Math.Round(e.GetDouble(), 6)));
    }

    [Fact]
    public async Task Probe_plan_states_the_cost_of_every_mode()
    {
        var run = await CliRunner.RunAsync("probe", Video, "--plan", "--fps", "1", "--json");
        Assert.Equal(0, run.Exit);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        JsonElement plan = doc.RootElement.GetProperty("plan");
        Assert.Equal("keyframes-only", plan.GetProperty("mode").GetString());       // 1 fps hits exactly the keyframes
        Assert.Equal(3, plan.GetProperty("alternatives").GetArrayLength());
        var text = await CliRunner.RunAsync("probe", Video, "--plan", "--count", "3");
        Assert.Contains("SeekPerSample", text.Out, StringComparison.Ordinal);
        Assert.Contains("chosen", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Frames_writes_pngs_named_by_index_and_time_and_a_manifest()
    {
        string outDir = media.PathOf("frames-out");
        var run = await CliRunner.RunAsync("frames", Video, "--fps", "2", "--start", "1", "--end", "3", "--size", "64x32", "--resize", "crop", "--out", outDir, "--json");
        Assert.Equal(0, run.Exit);
        using JsonDocument manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "manifest.json")));
        JsonElement[] frames = manifest.RootElement.GetProperty("frames").EnumerateArray().ToArray();
        // 1.5 s at 25 fps falls between frames 37 (1.48 s) and 38 (1.52 s): the frame on screen is 37.
        Assert.Equal([1.0, 1.48, 2.0, 2.48], frames.Select(f => Math.Round(f.GetProperty("ptsSeconds").GetDouble(), 6)));
        Assert.Equal("000001_1.480s.png", frames[1].GetProperty("file").GetString());
        foreach (JsonElement f in frames)
        {
            using var image = NetVips.Image.NewFromFile(Path.Combine(outDir, f.GetProperty("file").GetString()!));
            Assert.Equal((64, 32, 3), (image.Width, image.Height, image.Bands));
        }

        Assert.Equal(64, manifest.RootElement.GetProperty("width").GetInt32());
        using JsonDocument printed = JsonDocument.Parse(run.Out);
        Assert.Equal(4, printed.RootElement.GetProperty("frames").GetArrayLength());
    }

    [Fact]
    public async Task Frames_with_a_strategy_follow_it()
    {
        var run = await CliRunner.RunAsync("frames", Video, "--strategy", "keyframes", "--count", "2", "--out", media.PathOf("key-out"), "--json");
        Assert.Equal(0, run.Exit);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        Assert.All(doc.RootElement.GetProperty("frames").EnumerateArray(), f => Assert.True(f.GetProperty("isKeyframe").GetBoolean()));
        Assert.Equal(2, doc.RootElement.GetProperty("frames").GetArrayLength());
    }

    [Fact]
    public async Task Bad_input_is_one_line_on_stderr_and_a_non_zero_exit()
    {
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("probe", media.PathOf("missing.mp4")), "does not exist");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("probe", media.Root), "is a directory");
        string junk = media.PathOf("junk.mp4");
        await File.WriteAllBytesAsync(junk, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919)).ToArray());
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("probe", junk), "not a media file");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("frames", Video, "--fps", "1", "--count", "3", "--out", media.PathOf("x")), "either --fps");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("frames", Video, "--fps", "1", "--size", "12", "--out", media.PathOf("x")), "Invalid size");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("frames", Video, "--fps", "1", "--start", "100", "--out", media.PathOf("x")), "Invalid start 100 s");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("frames", Video, "--strategy", "magic", "--out", media.PathOf("x")), "Invalid --strategy");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("frames", Video, "--fps", "1", "--out", Video), "is a file");
    }

    [Fact]
    public async Task Doctor_reports_the_tools_and_fails_when_ffmpeg_is_missing()
    {
        var run = await CliRunner.RunAsync("doctor", "--json");
        Assert.Equal(0, run.Exit);
        using (JsonDocument doc = JsonDocument.Parse(run.Out))
        {
            Assert.True(doc.RootElement.GetProperty("healthy").GetBoolean());
        }

        Environment.SetEnvironmentVariable("VIDEOLONG_FFMPEG", "/nonexistent/ffmpeg");
        try
        {
            var broken = await CliRunner.RunAsync("doctor");
            Assert.Equal(1, broken.Exit);
            Assert.Contains("MISSING", broken.Out, StringComparison.Ordinal);
            Assert.Contains("apt-get install -y ffmpeg", broken.Out, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("VIDEOLONG_FFMPEG", null);
        }
    }
}

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_is_used_wrongly
{
    [Fact]
    public async Task Usage_errors_exit_with_2_and_point_to_the_help()
    {
        var run = await CliRunner.RunAsync("frames", "x.mp4", "--fps", "abc", "--out", "o");
        Assert.Equal(2, run.Exit);
        Assert.Contains("videolong: error: Cannot parse argument 'abc'", run.Err, StringComparison.Ordinal);
        Assert.Contains("Run 'videolong frames --help' for usage.", run.Err, StringComparison.Ordinal);
        Assert.Equal(2, (await CliRunner.RunAsync("bogus")).Exit);
    }

    [Fact]
    public async Task Help_lists_every_verb()
    {
        var run = await CliRunner.RunAsync("--help");
        Assert.Equal(0, run.Exit);
        foreach (string verb in new[] { "probe", "frames", "tiles", "doctor" })
        {
            Assert.Contains(verb, run.Out, StringComparison.Ordinal);
        }
    }
}
