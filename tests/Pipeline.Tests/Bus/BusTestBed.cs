using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Bus;

/// <summary>The pipeline's services and consumers on the MassTransit test harness, over a temporary data folder and the tiny fixture model.</summary>
internal sealed class BusTestBed : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private readonly bool _ownsData;

    private BusTestBed(ServiceProvider services, string data, bool ownsData)
    {
        _services = services;
        _ownsData = ownsData;
        DataDirectory = data;
        Harness = services.GetRequiredService<ITestHarness>();
        Store = services.GetRequiredService<IJobStore>();
    }

    public static string Model => Fixtures.Dir("llava_onevision");

    public string DataDirectory { get; }

    public ITestHarness Harness { get; }

    public IJobStore Store { get; }

    public IServiceProvider Services => _services;

    /// <summary>A test bed on <paramref name="data"/> (a fresh folder when null; the same folder shares the job store and the cache).</summary>
    public static async Task<BusTestBed> StartAsync(string? data = null, Action<PipelineOptions>? configure = null)
    {
        bool owns = data is null;
        data ??= Path.Combine(Path.GetTempPath(), "videolong-bus-" + Guid.NewGuid().ToString("N")[..8]);
        var options = new PipelineOptions { DataDirectory = data, TokenizerDirectory = Fixtures.Dir("tokenizer"), StageRetries = 1 };
        configure?.Invoke(options);
        ServiceProvider services = new ServiceCollection()
            .AddVideoLongPipelineServices(options)
            .AddMassTransitTestHarness(bus => bus.AddVideoLongConsumers())
            .BuildServiceProvider(true);
        var bed = new BusTestBed(services, data, owns);
        bed.Harness.TestTimeout = TimeSpan.FromMinutes(2);
        bed.Harness.TestInactivityTimeout = TimeSpan.FromSeconds(5);   // model loads and hashing are quiet on a busy 2-core machine
        await bed.Harness.Start();
        return bed;
    }

    /// <summary>Publishes the question and waits (deterministically, not on bus inactivity) for its AnswerGenerated or JobFaulted.</summary>
    public async Task<object> AskAsync(AnswerQuestion question)
    {
        Task<object> ended = _services.GetRequiredService<JobEvents>().WhenEndedAsync(question.JobId, CancellationToken.None);
        await Harness.Bus.Publish(question);
        return await ended.WaitAsync(TimeSpan.FromMinutes(2));
    }

    /// <summary>Publishes any job command and waits for the job's ending event (answer, captions, analysis, fault or cancel).</summary>
    public async Task<object> RunAsync<T>(T command, JobId jobId)
        where T : class
    {
        Task<object> ended = _services.GetRequiredService<JobEvents>().WhenEndedAsync(jobId, CancellationToken.None);
        await Harness.Bus.Publish(command);
        return await ended.WaitAsync(TimeSpan.FromMinutes(2));
    }

    public Task<JobId> NewJobAsync() => Store.CreateAsync(nameof(AnswerQuestion), "{}", "tests", CancellationToken.None);

    public async Task<TResponse> RequestAsync<TRequest, TResponse>(TRequest request, Guid? messageId = null)
        where TRequest : class
        where TResponse : class
    {
        IRequestClient<TRequest> client = Harness.GetRequestClient<TRequest>();
        Response<TResponse> response = await client.GetResponse<TResponse>(request, x =>
        {
            if (messageId is { } id)
            {
                x.UseExecute(context => context.MessageId = id);
            }
        }, default, RequestTimeout.After(m: 2));
        return response.Message;
    }

    public static AnswerQuestion Question(JobId jobId, string video) => new()
    {
        JobId = jobId,
        Timestamp = DateTimeOffset.UtcNow,
        SourcePath = video,
        Question = "What happens in the video?",
        Model = Model,
        Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        Generation = new GenerationSettings { MaxNewTokens = 4 },
    };

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _services.DisposeAsync();
        if (_ownsData)
        {
            DeleteData(DataDirectory);
        }
    }

    public static void DeleteData(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One small video for the bus tests, made once by FFmpeg's lavfi source.</summary>
public sealed class BusVideos : TempMedia
{
    public BusVideos()
    {
        Video = Make("bus.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        Corrupt = PathOf("corrupt.mp4");
        File.WriteAllBytes(Corrupt, Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 + 7)).ToArray());
    }

    public string Video { get; }

    public string Corrupt { get; }
}
