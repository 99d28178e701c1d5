using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using VideoLong.Ingest.Tests.Images;

namespace VideoLong.Pipeline.Tests.Http;

public sealed class When_images_are_uploaded_and_captions_and_analyses_are_requested_over_HTTP(ApiServer server) : IClassFixture<ApiServer>
{
    private string GeoTiff => File.Exists(server.PathOf("allowed/geo.tif"))
        ? server.PathOf("allowed/geo.tif")
        : new TestTiff
        {
            Width = 300, Height = 200, TileSize = 64,
            ExtraTags = [new TiffTag(33550, new double[] { 30, 30, 0 }), new TiffTag(33922, new double[] { 0, 0, 0, 440720, 3751320, 0 }),
                new TiffTag(34735, new ushort[] { 1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 26711 })],
        }.WriteTo(server.PathOf("allowed/geo.tif"));

    private async Task<string> UploadImageAsync(string path)
    {
        using HttpResponseMessage response = await server.Client.PostAsync("/images", ApiServer.FileForm(path, "image.bin"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json)).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Images_are_accepted_by_content_not_by_name()
    {
        using (HttpResponseMessage tiff = await server.Client.PostAsync("/images", ApiServer.FileForm(GeoTiff, "whatever.mp4")))
        {
            Assert.Equal(HttpStatusCode.Created, tiff.StatusCode);
            JsonElement image = await tiff.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json);
            Assert.Equal("Tiff", image.GetProperty("container").GetString());
            Assert.Equal((300, 200), (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
            Assert.Equal("EPSG:26711", image.GetProperty("crs").GetString());
            Assert.True(image.GetProperty("uploaded").GetBoolean());
            Assert.Equal($"/images/{image.GetProperty("id").GetString()}", tiff.Headers.Location?.OriginalString);
        }

        string png = server.PathOf("small.png");
        using (NetVips.Image black = NetVips.Image.Black(40, 30, 3))
        {
            black.WriteToFile(png);
        }

        using (HttpResponseMessage ok = await server.Client.PostAsync("/images", ApiServer.FileForm(png, "small.tif")))
        {
            Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
            Assert.Equal("Png", (await ok.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json)).GetProperty("container").GetString());
        }

        using (HttpResponseMessage video = await server.Client.PostAsync("/images", ApiServer.FileForm(server.Video, "photo.png")))
        {
            JsonElement problem = await ApiServer.ProblemAsync(video, HttpStatusCode.UnsupportedMediaType);
            Assert.Contains("TIFF, BigTIFF, PNG or JPEG", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // A TIFF signature over garbage: the libvips/TIFF header read refuses it, and no server path leaks.
        byte[] fake = [0x49, 0x49, 0x2A, 0x00, .. Enumerable.Range(0, 4096).Select(i => (byte)(i * 17 + 3))];
        using (HttpResponseMessage forged = await server.Client.PostAsync("/images", ApiServer.BytesForm(fake, "fake.tif")))
        {
            JsonElement problem = await ApiServer.ProblemAsync(forged, HttpStatusCode.UnsupportedMediaType);
            Assert.DoesNotContain(server.PathOf("data"), problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (HttpResponseMessage large = await server.Client.PostAsync("/images", ApiServer.BytesForm(new byte[(1 << 20) + 10], "large.tif")))
        {
            await ApiServer.ProblemAsync(large, HttpStatusCode.RequestEntityTooLarge);
        }

        Assert.DoesNotContain(Directory.EnumerateDirectories(server.PathOf("data/images")), d => !File.Exists(Path.Combine(d, "image.json")));   // refused uploads leave nothing
    }

    [Fact]
    public async Task Images_named_by_path_must_lie_under_an_allowed_root()
    {
        using HttpResponseMessage ok = await server.Client.PostAsJsonAsync("/images/by-path", new { path = GeoTiff });
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
        Assert.False((await ok.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json)).GetProperty("uploaded").GetBoolean());

        string outside = server.PathOf("outside/geo.tif");
        File.Copy(GeoTiff, outside, overwrite: true);
        using HttpResponseMessage refused = await server.Client.PostAsJsonAsync("/images/by-path", new { path = outside });
        await ApiServer.ProblemAsync(refused, HttpStatusCode.Forbidden);
        using HttpResponseMessage dotdot = await server.Client.PostAsJsonAsync("/images/by-path", new { path = server.AllowedRoot + "/../outside/geo.tif" });
        await ApiServer.ProblemAsync(dotdot, HttpStatusCode.Forbidden);
        using HttpResponseMessage video = await server.Client.PostAsJsonAsync("/images/by-path", new { path = server.Video });
        await ApiServer.ProblemAsync(video, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task An_analysis_is_accepted_and_its_job_holds_one_result_per_region_with_map_bounds()
    {
        string id = await UploadImageAsync(GeoTiff);
        using HttpResponseMessage accepted = await server.Client.PostAsJsonAsync($"/images/{id}/analyses",
            new { question = "What is in this region?", regionSize = 128, chunkSize = 64, order = "zigzag", maxNewTokens = 2 });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Uri location = accepted.Headers.Location!;
        Assert.Matches("^/jobs/[0-9a-f-]{36}$", location.OriginalString);

        JsonElement job = await server.WaitForEndAsync(location);
        Assert.Equal("Succeeded", job.GetProperty("state").GetString());
        Assert.Equal("AnalyzeImage", job.GetProperty("kind").GetString());
        JsonElement[] regions = job.GetProperty("result").GetProperty("regions").EnumerateArray().ToArray();
        Assert.Equal(6, regions.Length);
        Assert.Equal([0, 128, 256, 256, 128, 0], regions.Select(r => r.GetProperty("box").GetProperty("x").GetInt32()));
        Assert.Equal("EPSG:26711", regions[3].GetProperty("bounds").GetProperty("crs").GetString());
        Assert.Equal(440720 + (256 * 30), regions[3].GetProperty("bounds").GetProperty("minX").GetDouble(), 6);
        Assert.Equal(44, regions[3].GetProperty("valid").GetProperty("width").GetInt32());

        string events = await server.Client.GetStringAsync(location + "/events");
        Assert.Contains("event: done", events, StringComparison.Ordinal);
        Assert.Contains("\"regions\"", events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_analysis_requests_are_refused_as_ProblemDetails()
    {
        string id = await UploadImageAsync(GeoTiff);
        (object Body, string Field)[] cases =
        [
            (new { question = "Q?", regionSize = 128, chunkSize = 48 }, "chunkSize"),
            (new { question = "Q?", regionSize = 16, maxRegions = 100 }, "maxRegions"),
            (new { question = "Q?", maxRegions = 1000 }, "maxRegions"),
            (new { regionSize = 128 }, "question"),
            (new { question = "Q?", caption = true }, "question"),
            (new { question = "Q?", order = "spiral" }, "order"),
            (new { question = "Q?", regionSize = 8 }, "regionSize"),
        ];
        foreach ((object body, string field) in cases)
        {
            using HttpResponseMessage response = await server.Client.PostAsJsonAsync($"/images/{id}/analyses", body);
            JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{JsonSerializer.Serialize(body)} → {problem}");
        }

        using HttpResponseMessage unknown = await server.Client.PostAsJsonAsync($"/images/{new string('a', 32)}/analyses", new { question = "Q?" });
        await ApiServer.ProblemAsync(unknown, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_caption_request_is_accepted_and_its_job_holds_the_segments()
    {
        string video = await server.UploadAsync();
        using HttpResponseMessage accepted = await server.Client.PostAsJsonAsync($"/videos/{video}/captions", new { segmentSeconds = 0.5, frames = 4, maxNewTokens = 2 });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        JsonElement job = await server.WaitForEndAsync(accepted.Headers.Location!);
        Assert.Equal("Succeeded", job.GetProperty("state").GetString());
        Assert.Equal("CaptionVideo", job.GetProperty("kind").GetString());
        JsonElement[] segments = job.GetProperty("result").GetProperty("segments").EnumerateArray().ToArray();
        Assert.Equal([0, 0.5, 1, 1.5], segments.Select(s => s.GetProperty("startSeconds").GetDouble()));
        Assert.All(segments, s => Assert.Equal(1, s.GetProperty("frameCount").GetInt32()));

        (object Body, string Field)[] cases =
        [
            (new { segmentSeconds = 0.001, frames = 4 }, "segmentSeconds"),
            (new { segmentSeconds = -1 }, "segmentSeconds"),
            (new { frames = 4, fps = 1.0 }, "frames"),
            (new { frames = 5000 }, "frames"),
            (new { fps = 1000.0 }, "fps"),
        ];
        foreach ((object body, string field) in cases)
        {
            using HttpResponseMessage response = await server.Client.PostAsJsonAsync($"/videos/{video}/captions", body);
            JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{JsonSerializer.Serialize(body)} → {problem}");
        }

        using HttpResponseMessage unknown = await server.Client.PostAsJsonAsync($"/videos/{new string('b', 32)}/captions", new { frames = 4 });
        await ApiServer.ProblemAsync(unknown, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_the_image_caption_and_analysis_routes()
    {
        JsonElement paths = (await server.Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json")).GetProperty("paths");
        foreach (string path in new[] { "/images", "/images/by-path", "/videos/{videoId}/captions", "/images/{imageId}/analyses" })
        {
            Assert.True(paths.TryGetProperty(path, out JsonElement item) && item.TryGetProperty("post", out _), $"{path} is missing from the OpenAPI document");
        }
    }
}
