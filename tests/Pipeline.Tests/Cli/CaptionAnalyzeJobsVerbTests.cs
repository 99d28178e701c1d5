using System.Text.Json;
using VideoLong.Ingest.Tests.Images;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_captions_analyses_and_lists_jobs(TempMedia media)
{
    private string Video => File.Exists(media.PathOf("cap.mp4"))
        ? media.PathOf("cap.mp4")
        : media.Make("cap.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");

    private string GeoTiff => File.Exists(media.PathOf("an-geo.tif"))
        ? media.PathOf("an-geo.tif")
        : new TestTiff
        {
            Width = 200, Height = 100, TileSize = 64,
            ExtraTags = [new TiffTag(33550, new double[] { 30, 30, 0 }), new TiffTag(33922, new double[] { 0, 0, 0, 440720, 3751320, 0 }),
                new TiffTag(34735, new ushort[] { 1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 26711 })],
        }.WriteTo(media.PathOf("an-geo.tif"));

    private static string[] ModelArgs => ["--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"), "--max-new-tokens", "2"];

    [Fact]
    public async Task Caption_prints_one_line_per_segment_and_a_second_run_hits_the_cache_and_jobs_lists_both()
    {
        string data = media.PathOf("cap-data");
        var text = await CliRunner.RunAsync(["caption", Video, "--segment-seconds", "0.8", "--frames", "4", "--data", data, .. ModelArgs]);
        Assert.True(text.Exit == 0, text.Err);
        string[] lines = text.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("[00:00-00:00] ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("[00:01-00:02] ", lines[2], StringComparison.Ordinal);

        var json = await CliRunner.RunAsync(["caption", Video, "--segment-seconds", "0.5", "--frames", "4", "--data", data, "--json", .. ModelArgs]);
        Assert.True(json.Exit == 0, json.Err);
        string jobId;
        using (JsonDocument doc = JsonDocument.Parse(json.Out))
        {
            JsonElement[] segments = doc.RootElement.GetProperty("segments").EnumerateArray().ToArray();
            Assert.Equal([0, 0.5, 1, 1.5], segments.Select(s => s.GetProperty("startSeconds").GetDouble()));
            Assert.All(segments, s => Assert.Equal(1, s.GetProperty("frameCount").GetInt32()));
            Assert.True(doc.RootElement.GetProperty("cached").GetProperty("frames").GetBoolean());
            Assert.True(doc.RootElement.GetProperty("cached").GetProperty("tokens").GetBoolean());
            jobId = doc.RootElement.GetProperty("jobId").GetString()!;
        }

        var list = await CliRunner.RunAsync("jobs", "--data", data);
        Assert.True(list.Exit == 0, list.Err);
        Assert.Equal(2, list.Out.Split('\n').Count(l => l.Contains("CaptionVideo", StringComparison.Ordinal) && l.Contains("Succeeded", StringComparison.Ordinal)));
        Assert.Contains(jobId, list.Out, StringComparison.Ordinal);

        var one = await CliRunner.RunAsync("jobs", jobId, "--data", data, "--json");
        Assert.True(one.Exit == 0, one.Err);
        using (JsonDocument doc = JsonDocument.Parse(one.Out))
        {
            Assert.Equal("succeeded", doc.RootElement.GetProperty("state").GetString());
            Assert.Equal(["queued", "preparing", "encoding", "answering"], doc.RootElement.GetProperty("timings").EnumerateArray().Select(t => t.GetProperty("state").GetString()));
            Assert.Equal(4, doc.RootElement.GetProperty("result").GetProperty("segments").GetArrayLength());
        }

        var shown = await CliRunner.RunAsync("jobs", jobId, "--data", data);
        Assert.Contains("Answering", shown.Out, StringComparison.Ordinal);
        Assert.Contains("\"segments\"", shown.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Analyze_prints_each_region_with_pixel_and_map_coordinates()
    {
        string data = media.PathOf("an-data");
        var run = await CliRunner.RunAsync(["analyze", GeoTiff, "What is here?", "--region-size", "64", "--chunk-size", "32", "--order", "zigzag", "--data", data, .. ModelArgs]);
        Assert.True(run.Exit == 0, run.Err);
        string[] lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("EPSG:26711", lines[0], StringComparison.Ordinal);
        Assert.Equal(1 + 8, lines.Length);                                              // 4 columns × 2 rows
        Assert.StartsWith("#3 r0c3 px 192,0 64x64 map [446480, 3749400 – 448400, 3751320]", lines[4], StringComparison.Ordinal);
        Assert.StartsWith("#4 r1c3 px 192,64 64x64", lines[5], StringComparison.Ordinal);

        var json = await CliRunner.RunAsync(["analyze", GeoTiff, "--caption", "--region-size", "128", "--json", "--data", data, .. ModelArgs]);
        Assert.True(json.Exit == 0, json.Err);
        using JsonDocument doc = JsonDocument.Parse(json.Out);
        JsonElement analysis = doc.RootElement.GetProperty("analysis");
        Assert.Equal("caption", analysis.GetProperty("task").GetString());
        Assert.Equal(2, analysis.GetProperty("regions").GetArrayLength());
    }

    [Fact]
    public async Task Bad_inputs_are_one_line_errors()
    {
        string data = media.PathOf("bad-data");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["analyze", GeoTiff, "--region-size", "64", "--data", data, .. ModelArgs]), "Give a QUESTION or --caption");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["analyze", GeoTiff, "Q?", "--region-size", "64", "--chunk-size", "48", "--data", data, .. ModelArgs]), "must divide the region size 64");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["analyze", GeoTiff, "Q?", "--region-size", "16", "--max-regions", "10", "--data", data, .. ModelArgs]), "more than the maximum 10");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["analyze", GeoTiff, "Q?", "--order", "spiral", "--data", data, .. ModelArgs]), "Invalid --order");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["caption", Video, "--segment-seconds", "0", "--data", data, .. ModelArgs]), "Invalid --segment-seconds");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["caption", Video, "--frames", "4", "--fps", "1", "--data", data, .. ModelArgs]), "not both");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync(["caption", Video, "--segment-seconds", "0.1", "--max-segments", "3", "--frames", "4", "--data", data, .. ModelArgs]), "more than the maximum 3");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("jobs", "--data", media.PathOf("no-such-data")), "No job store");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("jobs", "not-a-guid", "--data", data), "Invalid job id");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("jobs", Guid.NewGuid().ToString(), "--data", data), "was not found");
    }
}
