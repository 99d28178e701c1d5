using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Http;

public sealed class When_a_video_is_uploaded_and_asked_about_over_HTTP(ApiServer server) : IClassFixture<ApiServer>
{
    [Fact]
    public async Task The_job_is_accepted_with_its_location_and_succeeds_with_an_answer_and_timestamps()
    {
        using HttpResponseMessage upload = await server.Client.PostAsync("/videos", ApiServer.FileForm(server.Video));
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        JsonElement video = await upload.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json);
        string id = video.GetProperty("id").GetString()!;
        Assert.Equal($"/videos/{id}", upload.Headers.Location?.OriginalString);
        Assert.Equal("h264", video.GetProperty("codec").GetString());
        Assert.Equal(20, video.GetProperty("frameCount").GetInt32());
        Assert.True(video.GetProperty("uploaded").GetBoolean());

        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions", new { question = "What happens in the video?", frames = 4, maxNewTokens = 4 });
        Assert.Equal(HttpStatusCode.Accepted, ask.StatusCode);
        Uri location = ask.Headers.Location!;
        Assert.Matches("^/jobs/[0-9a-f-]{36}$", location.OriginalString);

        JsonElement job = await server.WaitForEndAsync(location);
        Assert.Equal("Succeeded", job.GetProperty("state").GetString());
        JsonElement result = job.GetProperty("result");
        Assert.Equal(JsonValueKind.String, result.GetProperty("answer").ValueKind);
        Assert.Equal([0.2, 0.7, 1.2, 1.7], result.GetProperty("supportingTimestamps").EnumerateArray().Select(t => Math.Round(t.GetDouble(), 3)));

        JsonElement page = await server.Client.GetFromJsonAsync<JsonElement>("/jobs?limit=100", ApiServer.Json);
        Assert.Contains(page.GetProperty("items").EnumerateArray(), j => "/jobs/" + j.GetProperty("id").GetString() == location.OriginalString);
    }

    [Fact]
    public async Task The_event_stream_delivers_progress_and_then_done()
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions", new { question = "What is shown?", frames = 8, maxNewTokens = 2 });
        Uri location = ask.Headers.Location!;

        using var request = new HttpRequestMessage(HttpMethod.Get, location + "/events");
        using HttpResponseMessage events = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType?.MediaType);
        var types = new List<string>();
        await using Stream stream = await events.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await foreach (SseItem<string> item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            types.Add(item.EventType);
            if (item.EventType == "done")
            {
                JsonElement done = JsonSerializer.Deserialize<JsonElement>(item.Data);
                Assert.Equal("Succeeded", done.GetProperty("state").GetString());
                Assert.True(done.GetProperty("result").TryGetProperty("answer", out _));
            }
        }

        Assert.Equal("state", types[0]);
        Assert.Contains("progress", types);
        Assert.Equal("done", types[^1]);
    }

    [Fact]
    public async Task Delete_cancels_a_job_that_has_not_ended_and_its_stream_ends_with_cancelled()
    {
        // A queued job nobody works on: the cancel is deterministic.
        JobId queued = await server.Store.CreateAsync(nameof(AnswerQuestion), "{}", null, default);
        using HttpResponseMessage cancel = await server.Client.DeleteAsync($"/jobs/{queued.Value}");
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        JsonElement job = await cancel.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json);
        Assert.Equal("Cancelled", job.GetProperty("state").GetString());
        Assert.True(job.GetProperty("cancellationRequested").GetBoolean());
        JobRecord record = await server.Store.GetAsync(queued, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.True(record.CancellationRequested);

        string events = await server.Client.GetStringAsync($"/jobs/{queued.Value}/events");
        Assert.Contains("event: cancelled", events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_of_a_job_that_has_ended_answers_202_and_keeps_its_end()
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions", new { question = "Colours?", frames = 4, maxNewTokens = 2 });
        JsonElement ended = await server.WaitForEndAsync(ask.Headers.Location!);
        using HttpResponseMessage cancel = await server.Client.DeleteAsync(ask.Headers.Location);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        JsonElement job = await cancel.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json);
        Assert.Equal(ended.GetProperty("state").GetString(), job.GetProperty("state").GetString());
        Assert.False(job.GetProperty("cancellationRequested").GetBoolean());
    }

    [Fact]
    public async Task A_video_named_under_an_allowed_root_is_registered_with_its_probe()
    {
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/videos/by-path", new { path = server.Video });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonElement video = await response.Content.ReadFromJsonAsync<JsonElement>(ApiServer.Json);
        Assert.False(video.GetProperty("uploaded").GetBoolean());
        Assert.Equal(64, video.GetProperty("width").GetInt32());
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_the_routes()
    {
        JsonElement doc = await server.Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        JsonElement paths = doc.GetProperty("paths");
        foreach (string path in new[] { "/videos", "/videos/by-path", "/videos/{videoId}/questions", "/jobs", "/jobs/{jobId}", "/jobs/{jobId}/events", "/health" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        }

        Assert.True(paths.GetProperty("/jobs/{jobId}").TryGetProperty("delete", out _));
    }
}

public sealed class When_a_request_is_bad_over_HTTP(ApiServer server) : IClassFixture<ApiServer>
{
    [Fact]
    public async Task An_upload_without_a_file_part_is_400()
    {
        using var form = new MultipartFormDataContent { { new StringContent("hello"), "note" } };
        using HttpResponseMessage response = await server.Client.PostAsync("/videos", form);
        JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("file", out _));
    }

    [Fact]
    public async Task Random_bytes_named_mp4_are_415_and_not_kept()
    {
        using HttpResponseMessage response = await server.Client.PostAsync("/videos", ApiServer.FileForm(server.Random, "holiday.mp4"));
        JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.DoesNotContain(server.Root, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);   // no server paths in errors
        Assert.DoesNotContain(Directory.GetDirectories(server.PathOf("data/videos")), d => !File.Exists(Path.Combine(d, "video.json")));
    }

    [Fact]
    public async Task An_upload_over_the_size_limit_is_413()
    {
        using HttpResponseMessage response = await server.Client.PostAsync("/videos", ApiServer.BytesForm(new byte[(1 << 20) + 4096]));
        await ApiServer.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task A_streamed_upload_without_a_length_over_the_limit_is_413()
    {
        var body = new StreamContent(new MemoryStream(new byte[(3 << 20)]));
        using var form = new MultipartFormDataContent { { body, "file", "big.mp4" } };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/videos") { Content = form };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await server.Client.SendAsync(request);
        await ApiServer.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Theory]
    [InlineData("outside/secret.mp4")]
    [InlineData("allowed/../outside/secret.mp4")]
    [InlineData("allowed/escape.mp4")]
    [InlineData("allowed/escape-dir/secret.mp4")]
    [InlineData("allowed/loop-a")]
    public async Task A_path_outside_the_allowed_roots_is_403(string relative)
    {
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/videos/by-path", new { path = server.Root + "/" + relative });
        await ApiServer.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_relative_path_is_403()
    {
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync("/videos/by-path", new { path = "clip.mp4" });
        await ApiServer.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_unknown_job_is_404_for_get_delete_and_events()
    {
        Guid unknown = Guid.NewGuid();
        foreach (HttpMethod method in new[] { HttpMethod.Get, HttpMethod.Delete })
        {
            using HttpResponseMessage response = await server.Client.SendAsync(new HttpRequestMessage(method, $"/jobs/{unknown}"));
            await ApiServer.ProblemAsync(response, HttpStatusCode.NotFound);
        }

        using HttpResponseMessage events = await server.Client.GetAsync($"/jobs/{unknown}/events");
        await ApiServer.ProblemAsync(events, HttpStatusCode.NotFound);
        using HttpResponseMessage malformed = await server.Client.GetAsync("/jobs/not-a-guid");
        await ApiServer.ProblemAsync(malformed, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_question_about_an_unknown_video_is_404()
    {
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync($"/videos/{Guid.NewGuid():N}/questions", new { question = "Why?" });
        await ApiServer.ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("question", 2001, 8)]
    [InlineData("question", 0, 8)]
    [InlineData("frames", 10, 0)]
    [InlineData("frames", 10, 2049)]
    public async Task Request_limits_are_400_naming_the_field(string field, int questionLength, int frames)
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage response = await server.Client.PostAsJsonAsync($"/videos/{id}/questions", new { question = new string('a', questionLength), frames });
        JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task Dropping_and_V2PE_settings_reach_the_answer_stage()
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions",
            new { question = "What happens?", frames = 4, maxNewTokens = 2, dropLayers = new[] { 1 }, dropRatios = new[] { 1.0, 0.5 }, dropMode = "uniform", v2peStride = 64 });
        Assert.Equal(HttpStatusCode.Accepted, ask.StatusCode);
        JsonElement job = await server.WaitForEndAsync(ask.Headers.Location!);
        Assert.Equal("Succeeded", job.GetProperty("state").GetString());
        JsonElement result = job.GetProperty("result");
        Assert.True(result.GetProperty("visualTokensAfterDropping").GetInt32() < result.GetProperty("visualTokens").GetInt32());
    }

    [Theory]
    [InlineData("{\"question\": \"Why?\", \"dropLayers\": [1], \"dropRatios\": []}")]
    [InlineData("{\"question\": \"Why?\", \"dropLayers\": [1], \"dropRatios\": [1, 1.5]}")]
    [InlineData("{\"question\": \"Why?\", \"dropMode\": \"random\"}")]
    [InlineData("{\"question\": \"Why?\", \"v2peStride\": 0}")]
    public async Task Bad_compression_settings_are_400_naming_compression(string json)
    {
        string id = await server.UploadAsync();
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await server.Client.PostAsync($"/videos/{id}/questions", content);
        JsonElement problem = await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("compression", out _));
    }

    [Fact]
    public async Task Malformed_json_is_a_400_problem()
    {
        using var content = new StringContent("{ not json", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await server.Client.PostAsync("/videos/by-path", content);
        await ApiServer.ProblemAsync(response, HttpStatusCode.BadRequest);
    }
}

public sealed class When_API_keys_are_configured(KeyedApiServer server) : IClassFixture<KeyedApiServer>
{
    [Fact]
    public async Task A_missing_or_invalid_key_is_401()
    {
        using HttpResponseMessage missing = await server.Client.GetAsync("/jobs");
        await ApiServer.ProblemAsync(missing, HttpStatusCode.Unauthorized);
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/videos") { Content = ApiServer.FileForm(server.Video) };
        wrong.Headers.Add("X-Api-Key", "not-the-key-0123456789");
        using HttpResponseMessage invalid = await server.Client.SendAsync(wrong);
        await ApiServer.ProblemAsync(invalid, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Health_and_the_OpenAPI_document_need_no_key()
    {
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_concurrent_jobs_is_429_and_sees_only_its_own_jobs()
    {
        using var client = new HttpClient { BaseAddress = server.Client.BaseAddress };
        client.DefaultRequestHeaders.Add("X-Api-Key", KeyedApiServer.Key);
        string video = await server.UploadAsync(client);

        // One job of this key is queued (nobody works on it), so a second one is refused.
        JobId running = await server.Store.CreateAsync(nameof(AnswerQuestion), "{}", Pipeline.Http.ApiKeyMiddleware.KeyId(KeyedApiServer.Key), default);
        using HttpResponseMessage refused = await client.PostAsJsonAsync($"/videos/{video}/questions", new { question = "What?", frames = 4 });
        await ApiServer.ProblemAsync(refused, HttpStatusCode.TooManyRequests);
        using HttpResponseMessage captions = await client.PostAsJsonAsync($"/videos/{video}/captions", new { segmentSeconds = 1, frames = 4 });
        await ApiServer.ProblemAsync(captions, HttpStatusCode.TooManyRequests);   // one limit for every kind of job

        using var other = new HttpClient { BaseAddress = server.Client.BaseAddress };
        other.DefaultRequestHeaders.Add("X-Api-Key", "other-key-0123456789abcdef");
        await ApiServer.ProblemAsync(await other.GetAsync($"/jobs/{running.Value}"), HttpStatusCode.NotFound);   // not its job
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/jobs/{running.Value}")).StatusCode);

        Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/jobs/{running.Value}")).StatusCode);
        using HttpResponseMessage admitted = await client.PostAsJsonAsync($"/videos/{video}/questions", new { question = "What?", frames = 4, maxNewTokens = 2 });
        Assert.Equal(HttpStatusCode.Accepted, admitted.StatusCode);
    }
}
