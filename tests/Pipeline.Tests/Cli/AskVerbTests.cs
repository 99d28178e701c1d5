using System.Text.Json;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_asks_about_a_video(TempMedia media)
{
    [Fact]
    public async Task The_answer_and_timestamps_are_printed_and_a_second_ask_hits_the_artifact_cache()
    {
        string video = media.Make("ask.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string data = media.PathOf("ask-data");
        string[] args = ["ask", video, "What happens?", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--frames", "4", "--max-new-tokens", "3", "--data", data];

        var first = await CliRunner.RunAsync([.. args, "--json"]);
        Assert.True(first.Exit == 0, first.Err);
        using (JsonDocument doc = JsonDocument.Parse(first.Out))
        {
            Assert.Equal([0.2, 0.7, 1.2, 1.7], doc.RootElement.GetProperty("supportingTimestamps").EnumerateArray().Select(e => Math.Round(e.GetDouble(), 3)));
            Assert.False(doc.RootElement.GetProperty("cached").GetProperty("frames").GetBoolean());
            Assert.False(doc.RootElement.GetProperty("cached").GetProperty("tokens").GetBoolean());
        }

        var second = await CliRunner.RunAsync([.. args, "--json"]);
        Assert.True(second.Exit == 0, second.Err);
        using (JsonDocument doc = JsonDocument.Parse(second.Out))
        {
            Assert.True(doc.RootElement.GetProperty("cached").GetProperty("frames").GetBoolean());
            Assert.True(doc.RootElement.GetProperty("cached").GetProperty("tokens").GetBoolean());
        }

        var text = await CliRunner.RunAsync(args);
        Assert.True(text.Exit == 0, text.Err);
        Assert.Contains("supporting frames at: 0.200 s, 0.700 s, 1.200 s, 1.700 s", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_video_is_one_line_on_stderr()
    {
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("ask", media.PathOf("nope.mp4"), "What?", "--model", Fixtures.Dir("llava_onevision"),
            "--data", media.PathOf("ask-missing")), "does not exist");
    }

    [Fact]
    public async Task A_corrupt_video_faults_the_job_and_is_one_line_on_stderr()
    {
        string corrupt = media.PathOf("ask-corrupt.mp4");
        await File.WriteAllBytesAsync(corrupt, Enumerable.Range(0, 2048).Select(i => (byte)(i * 13)).ToArray());
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("ask", corrupt, "What?", "--model", Fixtures.Dir("llava_onevision"),
            "--tokenizer", Fixtures.Dir("tokenizer"), "--data", media.PathOf("ask-corrupt-data")), "Prepare failed");
    }

    [Fact]
    public async Task A_frame_count_that_does_not_fill_hico_clips_is_one_line_on_stderr()
    {
        string video = media.PathOf("ask-any.mp4");
        await File.WriteAllBytesAsync(video, [0]);
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("ask", video, "What?", "--model", Fixtures.Dir("llava_onevision"),
            "--frames", "6", "--tokens-per-frame", "4", "--data", media.PathOf("ask-frames-data")), "multiple of the HiCo clip length");
    }
}
