using System.Text.Json;
using TorchSharp;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_chats_with_a_local_checkpoint(TempMedia media)
{
    [Fact]
    [Trait("Category", "Parity")]
    public async Task The_tiny_qwen2_prints_the_reference_greedy_tokens()
    {
        var run = await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("qwen2"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "What happens in the video?", "--max-new-tokens", "20", "--ignore-eos", "--json");
        Assert.True(run.Exit == 0, run.Err);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        int[] tokens = doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using torch.Tensor prompt = Fixtures.Reference("qwen2", "greedy_input_ids");
        using torch.Tensor full = Fixtures.Reference("qwen2", "greedy_output_ids");
        long[] expected = full[0].data<long>().ToArray()[(int)prompt.shape[1]..];
        Assert.Equal(expected.Select(x => (int)x), tokens);
        Assert.Equal(prompt.shape[1], doc.RootElement.GetProperty("promptTokens").GetInt64());
    }

    [Fact]
    public async Task A_llava_onevision_model_answers_about_a_video()
    {
        string video = media.Make("chat.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        var run = await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--frames", "4", "--no-time-prompt", "When does it change?", "--max-new-tokens", "5", "--ignore-eos", "--json");
        Assert.True(run.Exit == 0, run.Err);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        Assert.Equal(5, doc.RootElement.GetProperty("tokens").GetArrayLength());
        // the fixture's video prompt: 4 frames x 2x2 pooled tokens + 1 newline = 17 video tokens in a 79-token prompt
        Assert.Equal(79, doc.RootElement.GetProperty("promptTokens").GetInt64());
    }

    [Fact]
    [Trait("Category", "V2PE")]
    public async Task Sequence_parallel_generation_over_devices_gives_the_same_tokens_as_one_device()
    {
        string video = media.Make("chat-sp.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string[] common = ["chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"), "--video", video, "--frames", "8",
            "--v2pe-stride", "64", "When does it change?", "--max-new-tokens", "6", "--ignore-eos", "--json"];
        async Task<int[]> Tokens(params string[] extra)
        {
            var run = await CliRunner.RunAsync([.. common, .. extra]);
            Assert.True(run.Exit == 0, run.Err);
            using JsonDocument doc = JsonDocument.Parse(run.Out);
            return doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        }

        int[] single = await Tokens();
        Assert.Equal(6, single.Length);
        Assert.Equal(single, await Tokens("--devices", "cpu,cpu,cpu"));                     // zigzag ring prefill + distributed KV cache
        Assert.Equal(single, await Tokens("--devices", "cpu,cpu", "--ulysses", "2"));       // 2D attention
        Assert.Equal(await Tokens("--temperature", "0.8", "--seed", "5"), await Tokens("--temperature", "0.8", "--seed", "5", "--devices", "cpu,cpu"));

        CliRunner.AssertOneLineError(await CliRunner.RunAsync([.. common, "--devices", "gpu7"]), "Invalid device 'gpu7'");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync([.. common, "--ulysses", "2"]), "give --devices too");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync([.. common, "--devices", "cpu,cpu", "--drop-layers", "1", "--drop-ratios", "1,0.5"]), "does not combine with --devices");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync([.. common, "--devices", "cpu,cpu,cpu", "--ulysses", "2"]), "Ulysses degree");
    }

    [Fact]
    public async Task A_llava_onevision_model_answers_about_an_image()
    {
        string png = media.PathOf("chat.png");
        byte[] pixels = Enumerable.Range(0, 40 * 24 * 3).Select(i => (byte)(i * 7)).ToArray();
        using (var img = NetVips.Image.NewFromMemory(pixels, 40, 24, 3, NetVips.Enums.BandFormat.Uchar))
        {
            img.Pngsave(png);
        }

        var run = await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--image", png, "What is shown?", "--max-new-tokens", "3", "--ignore-eos", "--json");
        Assert.True(run.Exit == 0, run.Err);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        // the fixture's image prompt for a 24x40 image expands to 102 tokens
        Assert.Equal(102, doc.RootElement.GetProperty("promptTokens").GetInt64());
        Assert.Equal(3, doc.RootElement.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    [Trait("Category", "HiCo")]
    [Trait("Category", "V2PE")]
    public async Task Long_video_options_reach_the_model_and_the_visual_token_count_is_reported()
    {
        string video = media.Make("chat-long.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        var run = await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--frames", "8", "--tokens-per-frame", "4", "--v2pe-stride", "64", "--drop-layers", "1", "--drop-ratios", "1,0.5",
            "--drop-mode", "attention", "When does it change?", "--max-new-tokens", "3", "--ignore-eos", "--json");
        Assert.True(run.Exit == 0, run.Err);
        using JsonDocument doc = JsonDocument.Parse(run.Out);
        Assert.Equal(8 * 4 + 1, doc.RootElement.GetProperty("visualTokens").GetInt32());          // HiCo: 4 tokens a frame + newline
        Assert.Equal(16, doc.RootElement.GetProperty("visualTokensAfterDropping").GetInt32());      // ⌊33 · 0.5⌋
        Assert.Equal(2.0, doc.RootElement.GetProperty("videoSeconds").GetDouble(), 3);             // the time prompt was built

        // The acceptance command shape: 16 tokens per frame and V2PE stride 64 (the tiny tower has exactly 16 patches a frame).
        var sixteen = await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--tokens-per-frame", "16", "--v2pe-stride", "64", "What happens?", "--max-new-tokens", "2", "--ignore-eos");
        Assert.True(sixteen.Exit == 0, sixteen.Err);
        Assert.Contains("visual tokens reaching the LLM: 129", sixteen.Err, StringComparison.Ordinal);   // 8 frames x 16 + 1

        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--frames", "6", "--tokens-per-frame", "4", "x"), "multiple of the HiCo clip length");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--v2pe-stride", "300", "x"), "--v2pe-stride");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--drop-layers", "1", "--drop-ratios", "1", "x"), "--drop-ratios needs 2 values");
    }

    [Fact]
    public async Task Bad_requests_are_one_line_errors()
    {
        string video = media.Make("chat-bad.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("qwen2"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "hi"), "text-only Qwen2");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"),
            "--video", video, "--image", video, "hi"), "not both");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", media.PathOf("nope"), "hi"), "is not a folder");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("chat", "--model", Fixtures.Dir("siglip"), "--tokenizer", Fixtures.Dir("tokenizer"), "hi"), "siglip");
    }
}
