using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using VideoLong.Pipeline.Http;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Http;

/// <summary>
/// <c>videolong serve</c> in the test: the real WebApplication on Kestrel at 127.0.0.1 and a free port, with the tiny
/// fixture model, a temporary data folder, an allowed root holding a small video, and files outside that root.
/// </summary>
public class ApiServer : TempMedia, IAsyncLifetime
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    private WebApplication? _app;

    public ApiServer()
    {
        Directory.CreateDirectory(PathOf("allowed"));
        Directory.CreateDirectory(PathOf("outside"));
        Video = Make("allowed/clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        Outside = PathOf("outside/secret.mp4");
        File.Copy(Video, Outside);
        EscapingLink = PathOf("allowed/escape.mp4");
        File.CreateSymbolicLink(EscapingLink, Outside);
        File.CreateSymbolicLink(PathOf("allowed/escape-dir"), PathOf("outside"));
        File.CreateSymbolicLink(PathOf("allowed/loop-a"), PathOf("allowed/loop-b"));
        File.CreateSymbolicLink(PathOf("allowed/loop-b"), PathOf("allowed/loop-a"));
        Random = PathOf("random.mp4");
        File.WriteAllBytes(Random, Enumerable.Range(0, 8192).Select(i => (byte)(i * 31 + 7)).ToArray());
    }

    public string Video { get; }

    public string Outside { get; }

    public string EscapingLink { get; }

    public string Random { get; }

    public string AllowedRoot => PathOf("allowed");

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    protected virtual IReadOnlyList<string> ApiKeys => [];

    protected virtual int MaxJobsPerKey => 4;

    public async Task InitializeAsync()
    {
        _app = VideoLongApi.Build(new HttpApiOptions
        {
            Urls = "http://127.0.0.1:0",
            DataDirectory = PathOf("data"),
            ModelDirectory = Fixtures.Dir("llava_onevision"),
            TokenizerDirectory = Fixtures.Dir("tokenizer"),
            AllowedRoots = [AllowedRoot],
            ApiKeys = ApiKeys,
            MaxUploadBytes = 1 << 20,
            MaxConcurrentJobsPerKey = MaxJobsPerKey,
        }, LogLevel.Warning);
        await _app.StartAsync();
        string address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
        Client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Dispose();
    }

    public IJobStore Store => Services.GetRequiredService<IJobStore>();

    public static MultipartFormDataContent FileForm(string path, string name = "clip.mp4")
    {
        var content = new ByteArrayContent(File.ReadAllBytes(path));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return new MultipartFormDataContent { { content, "file", name } };
    }

    public static MultipartFormDataContent BytesForm(byte[] bytes, string name = "clip.mp4") =>
        new() { { new ByteArrayContent(bytes), "file", name } };

    public async Task<string> UploadAsync(HttpClient? client = null)
    {
        using HttpResponseMessage response = await (client ?? Client).PostAsync("/videos", FileForm(Video));
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("id").GetString()!;
    }

    /// <summary>Polls the job until it has ended (bounded: 2 minutes).</summary>
    public async Task<JsonElement> WaitForEndAsync(Uri location)
    {
        for (int i = 0; i < 600; i++)
        {
            JsonElement job = await Client.GetFromJsonAsync<JsonElement>(location, Json);
            if (job.GetProperty("state").GetString() is "Succeeded" or "Faulted" or "Cancelled")
            {
                return job;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{location} did not end in 2 minutes.");
    }

    /// <summary>Reads a ProblemDetails body and checks its status and content type.</summary>
    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, System.Net.HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonElement problem = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }
}

/// <summary>The same server with API keys configured and one job per key at a time.</summary>
public sealed class KeyedApiServer : ApiServer
{
    public const string Key = "test-key-0123456789abcdef";

    protected override IReadOnlyList<string> ApiKeys => [Key, "other-key-0123456789abcdef"];

    protected override int MaxJobsPerKey => 1;
}
