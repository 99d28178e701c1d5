using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using VideoLong.Pipeline.Tests.Cli;
using VideoLong.Pipeline.Tests.Http;

namespace VideoLong.Pipeline.Tests.Niah;

public sealed class When_a_niah_benchmark_is_run_over_HTTP(ApiServer server) : IClassFixture<ApiServer>
{
    private string Config(string video) => $$"""
        {
          "name": "http", "seed": 5, "maxNewTokens": 2,
          "haystack": { "video": "{{video}}", "fps": 4 },
          "frameCounts": [4, 8], "depths": [0, 1],
          "needles": [
            { "text": "The word is KIWI", "question": "Which word?", "answer": "kiwi" },
            { "clip": "{{video}}", "clipFps": 2, "clipMaxFrames": 3, "question": "What moves?", "options": ["Bars", "Birds"], "answer": "A" }
          ]
        }
        """;

    [Fact]
    public async Task The_job_is_accepted_runs_on_the_bus_and_its_summary_names_the_files()
    {
        using JsonDocument config = JsonDocument.Parse(Config(server.Video));
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/niah", new { config = config.RootElement });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Uri location = response.Headers.Location!;
        Assert.StartsWith("/jobs/", location.OriginalString, StringComparison.Ordinal);

        JsonElement job = await server.WaitForEndAsync(location);
        Assert.Equal("Succeeded", job.GetProperty("state").GetString());
        string id = location.OriginalString["/jobs/".Length..];
        JsonElement result = await server.Client.GetFromJsonAsync<JsonElement>($"/niah/{id}", ApiServer.Json);
        Assert.Equal(8, result.GetProperty("trials").GetInt32());   // 2 lengths × 2 depths × (a text and a clip needle)
        Assert.Equal(5, result.GetProperty("seed").GetInt64());
        Assert.All(result.GetProperty("files").EnumerateArray(), f => Assert.True(File.Exists(f.GetString())));
    }

    [Fact]
    public async Task A_haystack_that_is_not_a_video_faults_the_job_with_the_reason()
    {
        string corrupt = server.PathOf("allowed/niah-corrupt.mp4");
        await File.WriteAllBytesAsync(corrupt, Enumerable.Range(0, 4096).Select(i => (byte)(i * 13 + 1)).ToArray());
        using JsonDocument config = JsonDocument.Parse(Config(server.Video).Replace($"\"video\": \"{server.Video}\"", $"\"video\": \"{corrupt}\"", StringComparison.Ordinal));
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/niah", new { config = config.RootElement });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        JsonElement job = await server.WaitForEndAsync(response.Headers.Location!);
        Assert.Equal("Faulted", job.GetProperty("state").GetString());
        Assert.Contains("niah-corrupt.mp4", job.GetProperty("error").GetRawText(), StringComparison.Ordinal);
        string id = response.Headers.Location!.OriginalString["/jobs/".Length..];
        using HttpResponseMessage result = await server.Client.GetAsync($"/niah/{id}");
        Assert.Equal(HttpStatusCode.Conflict, result.StatusCode);
    }

    [Fact]
    public async Task A_config_that_reads_outside_the_allowed_roots_is_refused()
    {
        using JsonDocument config = JsonDocument.Parse(Config(server.Outside));
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/niah", new { config = config.RootElement });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);

        string file = Path.Combine(server.PathOf("outside"), "niah.json");
        await File.WriteAllTextAsync(file, Config(server.Video));
        using HttpResponseMessage byPath = await server.Client.PostAsJsonAsync("/niah", new { configPath = file });
        Assert.Equal(HttpStatusCode.Forbidden, byPath.StatusCode);
    }

    [Fact]
    public async Task A_bad_or_missing_config_is_a_validation_problem()
    {
        using HttpResponseMessage none = await server.Client.PostAsJsonAsync("/niah", new { quick = true });
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        using JsonDocument bad = JsonDocument.Parse("""{ "haystack": { "video": "/x.mp4" }, "frameCounts": [4], "needles": [] }""");
        using HttpResponseMessage invalid = await server.Client.PostAsJsonAsync("/niah", new { config = bad.RootElement });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("needles", await invalid.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_runs_niah(TempMedia media)
{
    [Fact]
    public async Task A_frames_folder_from_the_frames_verb_is_a_haystack_and_the_outputs_are_written()
    {
        string video = media.Make("niah-haystack.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "12", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string frames = media.PathOf("niah-frames");
        var extract = await CliRunner.RunAsync("frames", video, "--fps", "1", "--size", "32x32", "--resize", "stretch", "--out", frames);
        Assert.True(extract.Exit == 0, extract.Err);
        string config = media.PathOf("niah.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "name": "cli", "model": "{{Fixtures.Dir("llava_onevision")}}", "tokenizer": "{{Fixtures.Dir("tokenizer")}}",
              "haystack": { "frames": "niah-frames" }, "frameCounts": [4, 8, 12], "depthSteps": 3, "maxNewTokens": 2,
              "needles": [ { "text": "The word is KIWI", "question": "Which word?", "answer": "kiwi" }, { "text": "7", "question": "Which number?", "answer": "7" } ],
              "quick": { "frameCounts": [4, 12], "depths": [0, 1], "needles": 1 }
            }
            """);
        string output = media.PathOf("niah-out");
        string data = media.PathOf("niah-data");

        var run = await CliRunner.RunAsync("niah", "--config", config, "--quick", "--out", output, "--data", data, "--json");
        Assert.True(run.Exit == 0, run.Err);
        using (JsonDocument doc = JsonDocument.Parse(run.Out))
        {
            Assert.Equal(4, doc.RootElement.GetProperty("trials").GetInt32());
            Assert.True(doc.RootElement.GetProperty("quick").GetBoolean());
            Assert.False(doc.RootElement.GetProperty("encoding").GetProperty("haystackFromCache").GetBoolean());
        }

        foreach (string file in new[] { "results.json", "results.csv", "heatmap.png", "summary.md" })
        {
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        }

        var again = await CliRunner.RunAsync("niah", "--config", config, "--quick", "--out", output, "--data", data, "--seed", "99");
        Assert.True(again.Exit == 0, again.Err);
        Assert.Contains("seed 99", again.Out, StringComparison.Ordinal);
        Assert.Contains("from the artifact cache", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_config_is_one_line_on_stderr()
    {
        string config = media.PathOf("niah-bad.json");
        await File.WriteAllTextAsync(config, """{ "haystack": { "video": "x.mp4" }, "frameCounts": [8], "depths": [2], "needles": [] }""");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("niah", "--config", config), "depth 2 is outside [0, 1]");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("niah", "--config", media.PathOf("missing.json")), "does not exist");
    }
}

[Collection(nameof(CliCollection))]
public sealed class When_the_shipped_model_runs_the_glyph_number_niah(TempMedia media)
{
    [Fact]
    public async Task It_finds_the_number_at_every_depth_of_a_64_frame_haystack_and_niah_report_redraws_the_outputs()
    {
        using var bed = new NiahTestBed();
        string frames = bed.FramesFolder(64);
        string config = media.PathOf("niah-glyphs.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "name": "glyphs", "model": "{{VideoLong.Pipeline.Training.DefaultModel.Resolve()}}", "device": "cpu",
              "haystack": { "frames": "{{frames}}" }, "frameCounts": [32, 64], "depths": [0, 0.5, 1], "needleFrames": 1,
              "scoring": "generate", "maxNewTokens": 6,
              "needles": [
                { "text": "37", "font": "glyphs", "question": "What number is shown in one frame of the video?", "answer": "37" },
                { "text": "84", "font": "glyphs", "question": "What number is shown in one frame of the video?", "answer": "84" }
              ]
            }
            """);
        string output = media.PathOf("niah-glyphs-out");
        var run = await CliRunner.RunAsync("niah", "--config", config, "--out", output, "--data", media.PathOf("niah-glyphs-data"), "--json");
        Assert.True(run.Exit == 0, run.Err);
        using (JsonDocument doc = JsonDocument.Parse(run.Out))
        {
            Assert.Equal(12, doc.RootElement.GetProperty("trials").GetInt32());
            Assert.Equal(1.0, doc.RootElement.GetProperty("overall").GetDouble());
        }

        File.Delete(Path.Combine(output, "heatmap.png"));
        File.Delete(Path.Combine(output, "summary.md"));
        var report = await CliRunner.RunAsync("niah-report", output);
        Assert.True(report.Exit == 0, report.Err);
        Assert.True(File.Exists(Path.Combine(output, "heatmap.png")));
        Assert.Contains("Overall score: 1.000", await File.ReadAllTextAsync(Path.Combine(output, "summary.md")), StringComparison.Ordinal);
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("niah-report", media.PathOf("no-such-run")), "No results.json");
    }
}
