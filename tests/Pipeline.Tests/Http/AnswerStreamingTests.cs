using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;

namespace VideoLong.Pipeline.Tests.Http;

public sealed class When_an_answer_streams_over_HTTP(ApiServer server) : IClassFixture<ApiServer>
{
    [Fact]
    public async Task The_event_stream_carries_token_events_in_order_before_done_and_they_make_up_the_answer()
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions",
            new { question = "What is shown?", frames = 4, maxNewTokens = 40, ignoreEos = true });
        Assert.Equal(HttpStatusCode.Accepted, ask.StatusCode);

        var items = new List<SseItem<string>>();
        using HttpResponseMessage events = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, ask.Headers.Location + "/events"),
            HttpCompletionOption.ResponseHeadersRead);
        await using Stream stream = await events.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await foreach (SseItem<string> item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            items.Add(item);
        }

        Assert.Equal("done", items[^1].EventType);
        JsonElement[] tokens = items.Where(i => i.EventType == "token").Select(i => JsonSerializer.Deserialize<JsonElement>(i.Data)).ToArray();
        Assert.NotEmpty(tokens);
        Assert.Equal(Enumerable.Range(0, tokens.Length), tokens.Select(t => t.GetProperty("sequence").GetInt32()));
        string answer = JsonSerializer.Deserialize<JsonElement>(items[^1].Data).GetProperty("result").GetProperty("answer").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(answer));
        Assert.Equal(answer, string.Concat(tokens.Select(t => t.GetProperty("text").GetString())).Trim());

        // Answer progress (tokens of max new tokens) came through as well.
        Assert.Contains(items, i => i.EventType == "progress" && JsonSerializer.Deserialize<JsonElement>(i.Data) is var p
            && p.GetProperty("stage").ToString() is "Answer" or "2" && p.GetProperty("total").GetInt64() == 40);
    }

    [Fact]
    public async Task Delete_while_tokens_stream_stops_generation_and_the_stream_ends_with_cancelled()
    {
        string id = await server.UploadAsync();
        using HttpResponseMessage ask = await server.Client.PostAsJsonAsync($"/videos/{id}/questions",
            new { question = "Describe everything.", frames = 4, maxNewTokens = 1024, ignoreEos = true });
        Uri location = ask.Headers.Location!;

        using HttpResponseMessage events = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, location + "/events"), HttpCompletionOption.ResponseHeadersRead);
        await using Stream stream = await events.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        Stopwatch? sinceDelete = null;
        string last = "";
        await foreach (SseItem<string> item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            last = item.EventType;
            if (item.EventType == "token" && sinceDelete is null)
            {
                sinceDelete = Stopwatch.StartNew();
                using HttpResponseMessage cancel = await server.Client.DeleteAsync(location);
                Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
            }
        }

        Assert.NotNull(sinceDelete);
        Assert.Equal("cancelled", last);
        Assert.True(sinceDelete.Elapsed < TimeSpan.FromSeconds(10), $"the stream ended {sinceDelete.Elapsed} after DELETE");

        // The stage itself stopped (no answer stored, no result), and the job stays Cancelled.
        JsonElement job = await server.Client.GetFromJsonAsync<JsonElement>(location, ApiServer.Json);
        Assert.Equal("Cancelled", job.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("result").ValueKind);
        var running = (VideoLong.Pipeline.Bus.JobCancellations)server.Services.GetService(typeof(VideoLong.Pipeline.Bus.JobCancellations))!;
        var jobId = new VideoLong.Contracts.JobId(job.GetProperty("id").GetGuid());
        for (int i = 0; running.RunningCount(jobId) > 0; i++)
        {
            Assert.True(i < 500, "the answer stage kept running after the cancel");
            await Task.Delay(20);
        }

        JsonElement progress = job.GetProperty("progress");
        Assert.True(progress.GetProperty("done").GetInt64() < 1024, "generation ran to the end");
    }
}
