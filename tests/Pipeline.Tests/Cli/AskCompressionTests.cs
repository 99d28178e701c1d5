using System.Text.Json;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_ask_uses_video_level_dropping_and_V2PE(TempMedia media)
{
    private static readonly string[] Compression = ["--frames", "8", "--tokens-per-frame", "4", "--v2pe-stride", "64", "--drop-layers", "1", "--drop-ratios", "1,0.5", "--drop-mode", "attention"];

    [Fact]
    [Trait("Category", "HiCo")]
    [Trait("Category", "V2PE")]
    public async Task The_pipeline_answers_exactly_as_chat_with_the_same_settings_and_reports_the_tokens_kept()
    {
        string video = media.Make("ask-drop.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string[] model = ["--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer")];
        const string Question = "When does it change?";

        var chat = await CliRunner.RunAsync(["chat", .. model, "--video", video, .. Compression, Question, "--max-new-tokens", "12", "--ignore-eos", "--temperature", "3", "--seed", "7", "--json"]);
        Assert.True(chat.Exit == 0, chat.Err);
        string chatAnswer;
        using (JsonDocument doc = JsonDocument.Parse(chat.Out))
        {
            Assert.Equal(16, doc.RootElement.GetProperty("visualTokensAfterDropping").GetInt32());
            chatAnswer = doc.RootElement.GetProperty("answer").GetString()!.Trim();
        }

        string data = media.PathOf("ask-drop-data");
        static string Answer(string json)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            return doc.RootElement.GetProperty("answer").GetString()!;
        }

        static JsonElement Kept(string json)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            return doc.RootElement.GetProperty("visualTokensAfterDropping").Clone();
        }

        var ask = await CliRunner.RunAsync(["ask", video, Question, .. model, .. Compression, "--max-new-tokens", "12", "--ignore-eos", "--temperature", "3", "--seed", "7", "--data", data, "--json"]);
        Assert.True(ask.Exit == 0, ask.Err);
        Assert.False(string.IsNullOrWhiteSpace(chatAnswer), chat.Out);
        Assert.Equal(chatAnswer, Answer(ask.Out));
        Assert.Equal(16, Kept(ask.Out).GetInt32());                               // ⌊33 · 0.5⌋, as chat reports

        // Sampling at a high temperature with a fixed seed turns the whole next-token distribution into the text, so equal
        // answers mean (near-)equal logits. Same frames and visual tokens (cached), without dropping: nothing dropped.
        // (That the settings change the logits themselves is tested on VideoPromptCompression, which both paths use.)
        var plain = await CliRunner.RunAsync(["ask", video, Question, .. model, "--frames", "8", "--tokens-per-frame", "4", "--max-new-tokens", "12", "--ignore-eos", "--temperature", "3", "--seed", "7",
            "--data", data, "--json"]);
        Assert.True(plain.Exit == 0, plain.Err);
        using (JsonDocument doc = JsonDocument.Parse(plain.Out))
        {
            Assert.True(doc.RootElement.GetProperty("cached").GetProperty("tokens").GetBoolean());   // dropping and V2PE are not part of the token key
        }

        Assert.Equal(JsonValueKind.Null, Kept(plain.Out).ValueKind);
    }

    [Fact]
    public async Task The_answer_streams_to_stdout_when_not_json()
    {
        string video = media.Make("ask-stream.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string[] args = ["ask", video, "What happens?", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"), "--frames", "4",
            "--max-new-tokens", "10", "--ignore-eos", "--data", media.PathOf("ask-stream-data")];
        var json = await CliRunner.RunAsync([.. args, "--json"]);
        Assert.True(json.Exit == 0, json.Err);
        string answer;
        using (JsonDocument doc = JsonDocument.Parse(json.Out))
        {
            answer = doc.RootElement.GetProperty("answer").GetString()!;
        }

        var text = await CliRunner.RunAsync(args);
        Assert.True(text.Exit == 0, text.Err);
        string[] lines = text.Out.Split('\n');
        Assert.Equal(answer, lines[0].Trim());
        Assert.StartsWith("supporting frames at: ", lines[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--drop-layers", "1", "--drop-ratios", "1" }, "--drop-ratios needs 2 values")]
    [InlineData(new[] { "--drop-layers", "2", "--drop-ratios", "1,0.5" }, "Invalid drop layer 2: the model has 2 decoder layers")]
    [InlineData(new[] { "--drop-layers", "1", "--drop-ratios", "1,1.5" }, "--drop-ratios must start at 1")]
    [InlineData(new[] { "--drop-layers", "1", "--drop-ratios", "1,0.5", "--drop-mode", "random" }, "Invalid drop mode 'random'")]
    [InlineData(new[] { "--v2pe-stride", "0" }, "--v2pe-stride")]
    [InlineData(new[] { "--drop-layers", "x" }, "Invalid --drop-layers 'x'")]
    public async Task Bad_settings_are_one_line_errors_before_any_work(string[] settings, string message)
    {
        string video = media.PathOf("ask-bad-settings.mp4");
        await File.WriteAllBytesAsync(video, [0]);   // never read: the settings are refused first
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["ask", video, "What?", "--model", Fixtures.Dir("llava_onevision"), .. settings,
            "--data", media.PathOf("ask-bad-settings-data")]), message);
    }
}
