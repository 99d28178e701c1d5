using System.Diagnostics;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Bench;

/// <summary>
/// Time to the first answer token through the in-process pipeline (in-memory bus, SQLite store, artifact cache), for a
/// first question (decode + encode + answer, model load included) and then for further questions about the same,
/// already-encoded video in the same process: those must hit the cache for frames and visual tokens, so the time is the
/// orchestration, the store, the cache lookups and the LLM's prefill. Reports per run whether any frame was decoded
/// (prepare progress events) and the stage timings the job store recorded.
/// </summary>
internal static class TtftBench
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task RunAsync(string video, string model, string? tokenizer, int frames, int runs, int maxNewTokens)
    {
        string data = Path.Combine(Path.GetTempPath(), $"videolong-ttft-{Environment.ProcessId}");
        var options = new PipelineOptions
        {
            DataDirectory = data, TokenizerDirectory = tokenizer is null ? null : Path.GetFullPath(tokenizer),
        };
        Console.WriteLine($"ttft: {video}, model {model}, {frames} frames, {maxNewTokens} new tokens, device {options.Device}, data {data}");
        await using ServiceProvider services = new ServiceCollection().AddVideoLongPipeline(options).BuildServiceProvider();
        IBusControl bus = services.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        try
        {
            IJobStore store = services.GetRequiredService<IJobStore>();
            JobEvents events = services.GetRequiredService<JobEvents>();
            var warm = new List<double>();
            for (int run = 0; run <= runs; run++)
            {
                var request = new AnswerQuestion
                {
                    JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = Path.GetFullPath(video), Question = $"Question {run}: what happens in the video?",
                    Model = Path.GetFullPath(model), Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = frames },
                    Generation = new GenerationSettings { MaxNewTokens = maxNewTokens, IgnoreEos = true },
                };
                JobId job = await store.CreateAsync(nameof(AnswerQuestion), JsonSerializer.Serialize(request, Json), "bench", CancellationToken.None);
                var firstToken = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
                int decodedFrames = 0;
                var clock = new Stopwatch();
                void OnTokens(AnswerTokensGenerated t)
                {
                    if (t.JobId == job)
                    {
                        firstToken.TrySetResult(clock.Elapsed.TotalMilliseconds);
                    }
                }

                void OnProgress(JobProgressed p)
                {
                    if (p.JobId == job && p.Stage == JobStage.Prepare)
                    {
                        Interlocked.Increment(ref decodedFrames);
                    }
                }

                events.TokensGenerated += OnTokens;
                events.Progressed += OnProgress;
                Task<object> ended = events.WhenEndedAsync(job, CancellationToken.None);
                clock.Start();
                await bus.Publish(request with { JobId = job });
                object ending = await ended;
                double total = clock.Elapsed.TotalMilliseconds;
                events.TokensGenerated -= OnTokens;
                events.Progressed -= OnProgress;
                if (ending is not AnswerGenerated)
                {
                    throw new InvalidOperationException($"run {run}: the job ended with {ending}");
                }

                double ttft = await firstToken.Task.WaitAsync(TimeSpan.FromSeconds(5));
                JobRecord record = await store.GetAsync(job, CancellationToken.None);
                VideoAnswer answer = JsonSerializer.Deserialize<VideoAnswer>(record.ResultJson!, Json)!;
                IReadOnlyList<StageTiming> timings = await store.GetTimingsAsync(job, CancellationToken.None);
                string stages = string.Join(", ", timings.Select(t => $"{t.State} {t.Duration?.TotalMilliseconds ?? double.NaN:0.0} ms"));
                Console.WriteLine($"{(run == 0 ? "first question" : $"question {run + 1}")}: first token {ttft:0.0} ms, answer ({maxNewTokens} tokens) {total:0.0} ms; "
                    + $"cache hits frames={answer.Cached.Frames} tokens={answer.Cached.Tokens}; prepare progress events {decodedFrames}; {answer.VisualTokens} visual tokens; stages: {stages}");
                if (run > 0)
                {
                    if (!answer.Cached.Frames || !answer.Cached.Tokens || decodedFrames > 0)
                    {
                        throw new InvalidOperationException($"question {run + 1} decoded or encoded again");
                    }

                    warm.Add(ttft);
                }
            }

            warm.Sort();
            Console.WriteLine($"time to first token, question on an already-encoded video: median {warm[warm.Count / 2]:0.0} ms, min {warm[0]:0.0} ms, max {warm[^1]:0.0} ms over {warm.Count} runs (no decode, no encode)");
        }
        finally
        {
            await bus.StopAsync();
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
