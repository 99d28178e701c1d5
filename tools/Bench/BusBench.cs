using System.Diagnostics;
using System.Globalization;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Bench;

/// <summary>
/// <c>videolong-bench bus FILE --model DIR [--tokenizer DIR] [--jobs N] [--frames F] [--rabbitmq URI]</c>: the bus
/// itself, on the in-memory transport and (when given) on RabbitMQ, same process, same job — a question about FILE with
/// the given model, frames and visual tokens already cached (a small job: what remains is the bus, the job store and a
/// 4-token answer). Reports jobs per second with N jobs submitted at once, and per stage the median time of a request
/// through the bus (consumer, step ledger, response) against the same library call made directly; the difference is the
/// bus's overhead per stage.
/// </summary>
internal static class BusBench
{
    public static async Task RunAsync(string video, string model, string? tokenizer, int jobs, int frames, string? rabbitmq)
    {
        List<PipelineTransport> transports = [PipelineTransport.InMemory];
        if (rabbitmq is not null)
        {
            transports.Add(PipelineTransport.Parse(rabbitmq));
        }

        Console.WriteLine($"job: {Path.GetFileName(video)}, {frames} frames, model {Path.GetFileName(model.TrimEnd('/'))}, 4 new tokens, frames and tokens cached; {jobs} jobs");
        foreach (PipelineTransport transport in transports)
        {
            string data = Path.Combine(Path.GetTempPath(), $"videolong-bench-bus-{Guid.NewGuid():N}"[..40]);
            var options = new PipelineOptions
            {
                DataDirectory = data, TokenizerDirectory = tokenizer, Transport = transport,
                EndpointPrefix = transport.IsRabbitMq ? $"bench-{Guid.NewGuid():N}"[..14] : null,
            };
            try
            {
                await using ServiceProvider services = new ServiceCollection().AddVideoLongPipeline(options).BuildServiceProvider();
                IBusControl bus = services.GetRequiredService<IBusControl>();
                await bus.StartAsync();
                try
                {
                    await MeasureAsync(transport, services, bus, video, model, jobs, frames);
                }
                finally
                {
                    await bus.StopAsync();
                }
            }
            finally
            {
                try
                {
                    Directory.Delete(data, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static async Task MeasureAsync(PipelineTransport transport, IServiceProvider services, IBus bus, string video, string model, int jobs, int frames)
    {
        IJobStore store = services.GetRequiredService<IJobStore>();
        JobEvents events = services.GetRequiredService<JobEvents>();
        ModelRegistry models = services.GetRequiredService<ModelRegistry>();
        ArtifactRef source = await ArtifactRefs.ForFileAsync(video, CancellationToken.None);
        AnswerQuestion Question(JobId id) => new()
        {
            JobId = id, Timestamp = DateTimeOffset.UtcNow, Source = source, Question = "What happens?", Model = model,
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = frames },
            Generation = new GenerationSettings { MaxNewTokens = 4 },
        };

        async Task<JobId> NewJobAsync() => await store.CreateAsync(nameof(AnswerQuestion), "{}", "bench", CancellationToken.None);

        JobId[] lastJobs = [];
        async Task<double> AskAsync(int count)
        {
            JobId[] ids = new JobId[count];
            for (int i = 0; i < count; i++)
            {
                ids[i] = await NewJobAsync();
            }

            Task<object>[] ended = ids.Select(id => events.WhenEndedAsync(id, CancellationToken.None)).ToArray();
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(ids.Select(id => bus.Publish(Question(id))));
            object[] endings = await Task.WhenAll(ended).WaitAsync(TimeSpan.FromMinutes(10));
            sw.Stop();
            if (endings.OfType<JobFaulted>().FirstOrDefault() is { } fault)
            {
                throw new InvalidOperationException($"a job faulted in {fault.Stage}: {fault.ErrorMessage}");
            }

            lastJobs = ids;
            return sw.Elapsed.TotalSeconds;
        }

        // Warm-up: loads the model, fills the frame and token caches, JITs every path.
        await AskAsync(1);
        await AskAsync(2);

        double seconds = await AskAsync(jobs);
        Console.WriteLine($"[{transport}] {jobs} jobs at once: {seconds:0.00} s, {jobs / seconds:0.0} jobs/s");

        // From the step ledger: how long each stage took inside its consumer, and how many ran at once at most.
        var steps = new List<StepRecord>();
        foreach (JobId id in lastJobs)
        {
            steps.AddRange(await store.GetStepsAsync(id, CancellationToken.None));
        }

        foreach (IGrouping<JobStage, StepRecord> stage in steps.GroupBy(s => s.Stage))
        {
            double[] ms = stage.Select(s => (s.CompletedAt!.Value - s.StartedAt).TotalMilliseconds).Order().ToArray();
            int overlap = stage.Max(a => stage.Count(b => b.StartedAt <= a.StartedAt && b.CompletedAt > a.StartedAt));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{transport}]   {stage.Key,-8} in the consumer: median {ms[ms.Length / 2]:0.0} ms, at most {overlap} at once"));
        }

        // Per stage, sequentially: the library call itself, then the same stage as a request through the bus.
        var prepareCommand = new PrepareVideo
        {
            JobId = await NewJobAsync(), Timestamp = DateTimeOffset.UtcNow, Source = source, FrameSize = models.TowerSize(model),
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = frames },
        };
        FramePreparer preparer = services.GetRequiredService<FramePreparer>();
        VideoTokenEncoder encoder = services.GetRequiredService<VideoTokenEncoder>();
        AnswerGenerator generator = services.GetRequiredService<AnswerGenerator>();
        VideoPrepared prepared = await preparer.PrepareAsync(prepareCommand, null, CancellationToken.None);
        var encodeCommand = new EncodeVideo { JobId = prepareCommand.JobId, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = model };
        VideoEncoded encoded = await encoder.EncodeAsync(encodeCommand, CancellationToken.None);
        var answerCommand = new GenerateAnswer
        {
            JobId = prepareCommand.JobId, Timestamp = DateTimeOffset.UtcNow, VisualTokens = encoded.VisualTokens, Question = "What happens?", Model = model,
            Generation = new GenerationSettings { MaxNewTokens = 4 }, FrameTimestamps = prepared.FrameTimestamps, DurationSeconds = prepared.DurationSeconds,
        };

        const int rounds = 15;
        IRequestClient<PrepareVideo> prepare = bus.CreateRequestClient<PrepareVideo>();
        IRequestClient<EncodeVideo> encode = bus.CreateRequestClient<EncodeVideo>();
        IRequestClient<GenerateAnswer> answer = bus.CreateRequestClient<GenerateAnswer>();
        await Stage("prepare", rounds, () => preparer.PrepareAsync(prepareCommand, null, CancellationToken.None),
            async id => await prepare.GetResponse<VideoPrepared>(prepareCommand with { JobId = id }), NewJobAsync, transport);
        await Stage("encode", rounds, () => encoder.EncodeAsync(encodeCommand, CancellationToken.None),
            async id => await encode.GetResponse<VideoEncoded>(encodeCommand with { JobId = id }), NewJobAsync, transport);
        await Stage("answer", rounds, () => generator.GenerateAsync(answerCommand, CancellationToken.None),
            async id => await answer.GetResponse<AnswerGenerated>(answerCommand with { JobId = id }), NewJobAsync, transport);
    }

    private static async Task Stage<T>(string name, int rounds, Func<Task<T>> direct, Func<JobId, Task> viaBus, Func<Task<JobId>> newJob, PipelineTransport transport)
    {
        var directTimes = new List<double>();
        var busTimes = new List<double>();
        for (int i = 0; i < rounds; i++)
        {
            // Interleaved, so that drift (page cache, CPU frequency, the other processes here) hits both alike.
            var sw = Stopwatch.StartNew();
            await direct();
            directTimes.Add(sw.Elapsed.TotalMilliseconds);
            JobId id = await newJob();
            sw.Restart();
            await viaBus(id);
            busTimes.Add(sw.Elapsed.TotalMilliseconds);
        }

        double d = Median(directTimes), b = Median(busTimes);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{transport}] {name,-8} direct {d,8:0.00} ms   via bus {b,8:0.00} ms   overhead {b - d,7:0.00} ms (median of {rounds})"));
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
