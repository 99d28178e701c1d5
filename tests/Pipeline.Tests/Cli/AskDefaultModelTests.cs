using System.Text.Json;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_asks_without_naming_a_model(TempMedia media)
{
    [Fact]
    public async Task VideoLong_Tiny_answers_the_colour_of_a_square_in_a_real_video()
    {
        // A real H.264 file through the whole pipeline (decode, sample, tower, decoder), with no --model: VideoLong-Tiny.
        string video = media.Make("tiny-red.mp4", "-f", "lavfi", "-i", "color=c=0x142030:s=128x128:d=16:r=4",
            "-vf", "drawbox=x=44:y=44:w=36:h=36:color=red:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        var run = await CliRunner.RunAsync("ask", video, "What color is the square?", "--frames", "16", "--data", media.PathOf("tiny-ask-data"), "--json");
        Assert.True(run.Exit == 0, run.Err);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        Assert.Equal("red", doc.RootElement.GetProperty("answer").GetString());
        Assert.Equal(16, doc.RootElement.GetProperty("supportingTimestamps").GetArrayLength());
    }
}
