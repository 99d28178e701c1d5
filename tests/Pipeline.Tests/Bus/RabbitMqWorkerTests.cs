using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;
using Xunit.Abstractions;

namespace VideoLong.Pipeline.Tests.Bus;

/// <summary>
/// The pipeline across processes on RabbitMQ: one API process (<c>videolong serve --transport rabbitmq://…</c>) and two
/// worker processes (<c>videolong worker --role all</c>) on one fresh data folder; one worker is SIGKILLed while it runs a
/// step. Every job must still end Succeeded exactly once.
/// </summary>
[Trait("Category", "RabbitMQ")]
public sealed partial class When_a_worker_is_killed_mid_step(ITestOutputHelper output)
{
    private const int Jobs = 4;

    [SkippableFact]
    public async Task Every_job_succeeds_once_and_the_killed_step_is_taken_over()
    {
        await TestBroker.RequireAsync();
        string prefix = TestBroker.NewPrefix("kill");
        using var media = new TempMedia();
        string data = media.PathOf("data");
        Directory.CreateDirectory(media.PathOf("videos"));
        string[] videos = Enumerable.Range(0, Jobs).Select(i => media.Make($"videos/clip{i}.mp4", "-f", "lavfi", "-i",
            $"testsrc2=size={64 + 16 * i}x{48 + 12 * i}:rate=10", "-t", $"{3 + i}", "-c:v", "libx264", "-pix_fmt", "yuv420p")).ToArray();
        string transport = TestBroker.Transport.ToString();
        string tokenizer = Fixtures.Dir("tokenizer");

        // The test's own observer: every AnswerGenerated published on this run's exchanges, by job.
        var answers = new ConcurrentDictionary<Guid, int>();
        IBusControl observer = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            PipelineTransport broker = TestBroker.Transport;
            cfg.Host(broker.Host!, (ushort)broker.Port, broker.VirtualHost, h =>
            {
                h.Username(broker.User);
                h.Password(broker.Password);
            });
            cfg.MessageTopology.SetEntityNameFormatter(new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, prefix + "."));
            cfg.ReceiveEndpoint(new TemporaryEndpointDefinition("kill-test"), e => e.Handler<AnswerGenerated>(context =>
            {
                answers.AddOrUpdate(context.Message.JobId.Value, 1, (_, n) => n + 1);
                return Task.CompletedTask;
            }));
        });
        using (var start = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await observer.StartAsync(start.Token);
        }

        var processes = new List<VideoLongProcess>();
        try
        {
            string[] workerArgs = ["worker", "--role", "all", "--transport", transport, "--data", data, "--tokenizer", tokenizer, "--queue-prefix", prefix, "--step-lease", "3", "--stop-timeout", "5"];
            VideoLongProcess[] workers = [VideoLongProcess.Start("worker A", workerArgs), VideoLongProcess.Start("worker B", workerArgs)];
            processes.AddRange(workers);
            await Task.WhenAll(workers.Select(w => w.WaitForLineAsync("videolong: worker all", TimeSpan.FromSeconds(90))));

            // Kill the first worker that begins a Prepare or Encode step, the moment it says so (both take seconds here).
            var killed = new TaskCompletionSource<(VideoLongProcess Worker, Guid Job, JobStage Stage)>(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnLine(VideoLongProcess worker, string line)
            {
                Match begun = BegunLine().Match(line);
                if (begun.Success && begun.Groups["stage"].Value is "Prepare" or "Encode" && !killed.Task.IsCompleted)
                {
                    lock (killed)
                    {
                        if (!killed.Task.IsCompleted)
                        {
                            worker.KillHard();
                            killed.SetResult((worker, Guid.Parse(begun.Groups["job"].Value), Enum.Parse<JobStage>(begun.Groups["stage"].Value)));
                        }
                    }
                }
            }

            foreach (VideoLongProcess worker in workers)
            {
                worker.LineReceived += OnLine;
            }

            VideoLongProcess serve = VideoLongProcess.Start("serve", "serve", "--transport", transport, "--queue-prefix", prefix, "--urls", "http://127.0.0.1:0",
                "--data", data, "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", tokenizer, "--allowed-root", media.PathOf("videos"), "--max-jobs-per-key", "16");
            processes.Add(serve);
            string address = AddressLine().Match(await serve.WaitForLineAsync("videolong: serving on", TimeSpan.FromSeconds(90))).Groups["url"].Value;
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };

            var jobs = new List<Uri>();
            foreach (string video in videos)
            {
                using HttpResponseMessage registered = await http.PostAsJsonAsync("/videos/by-path", new { path = video });
                Assert.True(registered.IsSuccessStatusCode, await registered.Content.ReadAsStringAsync());
                string id = (await registered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
                using HttpResponseMessage asked = await http.PostAsJsonAsync($"/videos/{id}/questions", new { question = "What is shown?", frames = 4, maxNewTokens = 4 });
                Assert.Equal(System.Net.HttpStatusCode.Accepted, asked.StatusCode);
                jobs.Add(asked.Headers.Location!);
            }

            (VideoLongProcess victim, Guid killedJob, JobStage killedStage) = await killed.Task.WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"killed {victim.Name} (pid {victim.Id}) during {killedStage} of job {killedJob}");

            // Every job ends, through the surviving worker.
            var ended = new Dictionary<Uri, JsonElement>();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            while (ended.Count < jobs.Count)
            {
                foreach (Uri job in jobs.Where(j => !ended.ContainsKey(j)))
                {
                    JsonElement view = await http.GetFromJsonAsync<JsonElement>(job, deadline.Token);
                    if (view.GetProperty("state").GetString() is "Succeeded" or "Faulted" or "Cancelled")
                    {
                        ended[job] = view;
                    }
                }

                await Task.Delay(250, deadline.Token);
            }

            foreach ((Uri job, JsonElement view) in ended)
            {
                Assert.True(view.GetProperty("state").GetString() == "Succeeded", $"{job}: {view}");
                Assert.Equal(JsonValueKind.String, view.GetProperty("result").GetProperty("answer").ValueKind);   // the random fixture model may say nothing
            }

            // Exactly one AnswerGenerated per job (give late or duplicate events a moment to arrive).
            using (var events = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            {
                while (answers.Count < jobs.Count)
                {
                    await Task.Delay(100, events.Token);
                }
            }

            await Task.Delay(1500);
            Guid[] jobIds = jobs.Select(j => Guid.Parse(j.OriginalString.Split('/')[^1])).ToArray();
            Assert.All(jobIds, id => Assert.Equal(1, answers.GetValueOrDefault(id)));
            Assert.Equal(jobIds.Length, answers.Count);

            // The step ledger: each stage of each job completed once; the killed step was taken over by a second attempt.
            using SqliteJobStore store = await SqliteJobStore.OpenAsync(Path.Combine(data, "jobs.db"), null, CancellationToken.None);
            foreach (Guid id in jobIds)
            {
                IReadOnlyList<StepRecord> steps = await store.GetStepsAsync(new JobId(id), CancellationToken.None);
                Assert.Equal([JobStage.Prepare, JobStage.Encode, JobStage.Answer], steps.Select(s => s.Stage));
                Assert.All(steps, s => Assert.True(s.Completed, $"{s.Stage} of {id} not completed"));
                output.WriteLine($"job {id}: " + string.Join(", ", steps.Select(s => $"{s.Stage} attempts {s.Attempts}")));
            }

            StepRecord takenOver = (await store.GetStepsAsync(new JobId(killedJob), CancellationToken.None)).Single(s => s.Stage == killedStage);
            Assert.True(takenOver.Attempts >= 2, $"{killedStage} of {killedJob} was begun by the killed worker, so it must have been taken over (attempts {takenOver.Attempts})");

            // Logs agree: no step completed twice, and the killed worker never completed the step it was killed in.
            string[] completions = workers.SelectMany(w => w.Lines).Where(l => l.Contains(" completed (attempt", StringComparison.Ordinal)).ToArray();
            Assert.DoesNotContain(completions, l => l.Contains("duplicate True", StringComparison.Ordinal));
            Assert.Equal(Jobs * 3, completions.Length);
            Assert.DoesNotContain(victim.Lines, l => l.Contains($"Step {killedStage} of job {killedJob} completed", StringComparison.Ordinal));
        }
        catch
        {
            foreach (VideoLongProcess process in processes)
            {
                output.WriteLine($"---- {process.Name} ----\n{string.Join('\n', process.Lines.TakeLast(60))}");
            }

            throw;
        }
        finally
        {
            foreach (VideoLongProcess process in processes)
            {
                process.Dispose();
            }

            await observer.StopAsync(CancellationToken.None);
            await TestBroker.DeleteQueuesAsync(prefix);
        }
    }

    [GeneratedRegex(@"Step (?<stage>\w+) of job (?<job>[0-9a-f-]{36}) begun")]
    private static partial Regex BegunLine();

    [GeneratedRegex(@"serving on (?<url>http://127\.0\.0\.1:\d+)")]
    private static partial Regex AddressLine();
}

/// <summary>SIGTERM stops a worker gracefully: a step it cannot finish in time is given back and its message requeued.</summary>
[Trait("Category", "RabbitMQ")]
public sealed partial class When_a_worker_is_stopped_with_sigterm(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task It_exits_cleanly_and_another_worker_runs_the_step_at_once()
    {
        await TestBroker.RequireAsync();
        string prefix = TestBroker.NewPrefix("term");
        using var media = new TempMedia();
        string data = media.PathOf("data");
        string video = media.Make("clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string transport = TestBroker.Transport.ToString();

        // A lease far longer than the test: only a step that was given back can be taken over in time.
        string[] workerArgs = ["worker", "--role", "all", "--transport", transport, "--data", data, "--tokenizer", Fixtures.Dir("tokenizer"), "--queue-prefix", prefix,
            "--step-lease", "600", "--stop-timeout", "0"];
        var processes = new List<VideoLongProcess>();
        IBusControl publisher = MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            PipelineTransport broker = TestBroker.Transport;
            cfg.Host(broker.Host!, (ushort)broker.Port, broker.VirtualHost, h =>
            {
                h.Username(broker.User);
                h.Password(broker.Password);
            });
            cfg.MessageTopology.SetEntityNameFormatter(new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, prefix + "."));
        });
        try
        {
            VideoLongProcess first = VideoLongProcess.Start("worker A", workerArgs);
            processes.Add(first);
            await first.WaitForLineAsync("videolong: worker all", TimeSpan.FromSeconds(90));
            using SqliteJobStore store = await SqliteJobStore.OpenAsync(Path.Combine(data, "jobs.db"), null, CancellationToken.None);
            JobId jobId = await store.CreateAsync(nameof(AnswerQuestion), "{}", "tests", CancellationToken.None);
            using (var start = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                await publisher.StartAsync(start.Token);
            }

            await publisher.Publish(BusTestBed.Question(jobId, video) with { Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 8 } });
            await first.WaitForLineAsync($"Step Prepare of job {jobId.Value} begun", TimeSpan.FromSeconds(60));
            first.Terminate();
            await first.WaitForLineAsync("videolong: worker stopped", TimeSpan.FromSeconds(30));
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.DoesNotContain(first.Lines, l => l.Contains($"Step Prepare of job {jobId.Value} completed", StringComparison.Ordinal));

            VideoLongProcess second = VideoLongProcess.Start("worker B", workerArgs);
            processes.Add(second);
            await second.WaitForLineAsync($"Step Answer of job {jobId.Value} completed", TimeSpan.FromSeconds(90));
            for (int i = 0; i < 100 && (await store.GetAsync(jobId, CancellationToken.None)).State != JobState.Succeeded; i++)
            {
                await Task.Delay(100);
            }

            Assert.Equal(JobState.Succeeded, (await store.GetAsync(jobId, CancellationToken.None)).State);
            StepRecord prepare = (await store.GetStepsAsync(jobId, CancellationToken.None)).Single(s => s.Stage == JobStage.Prepare);
            Assert.True(prepare is { Completed: true, Attempts: 2 }, $"prepare: {prepare}");
        }
        catch
        {
            foreach (VideoLongProcess process in processes)
            {
                output.WriteLine($"---- {process.Name} ----\n{string.Join('\n', process.Lines.TakeLast(40))}");
            }

            throw;
        }
        finally
        {
            foreach (VideoLongProcess process in processes)
            {
                process.Dispose();
            }

            await publisher.StopAsync(CancellationToken.None);
            await TestBroker.DeleteQueuesAsync(prefix);
        }
    }
}

/// <summary>A message that can never succeed ends in the stage queue's <c>_error</c> queue on RabbitMQ, not in a loop.</summary>
[Trait("Category", "RabbitMQ")]
public sealed class When_a_stage_message_is_poison : IClassFixture<BusVideos>
{
    private readonly BusVideos _videos;

    public When_a_stage_message_is_poison(BusVideos videos) => _videos = videos;

    [SkippableFact]
    public async Task It_ends_in_the_error_queue_and_the_step_is_given_back()
    {
        await TestBroker.RequireAsync();
        string prefix = TestBroker.NewPrefix("poison");
        string data = Path.Combine(Path.GetTempPath(), "videolong-poison-" + Guid.NewGuid().ToString("N")[..8]);
        var options = new PipelineOptions
        {
            DataDirectory = data, TokenizerDirectory = Fixtures.Dir("tokenizer"), StageRetries = 1, Transport = TestBroker.Transport,
            Roles = PipelineRoles.Prepare, ObserveJobEvents = false, EndpointPrefix = prefix, StepLease = TimeSpan.FromSeconds(2),
        };
        await using ServiceProvider services = new ServiceCollection().AddVideoLongPipeline(options).BuildServiceProvider();
        IBusControl bus = services.GetRequiredService<IBusControl>();
        using (var start = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await bus.StartAsync(start.Token);
        }

        try
        {
            IJobStore store = services.GetRequiredService<IJobStore>();
            JobId jobId = await store.CreateAsync(nameof(AnswerQuestion), "{}", "tests", CancellationToken.None);
            await store.TransitionAsync(jobId, JobState.Preparing, CancellationToken.None);
            ArtifactRef source = await ArtifactRefs.ForFileAsync(_videos.Corrupt, CancellationToken.None);
            await bus.Publish(new PrepareVideo
            {
                JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Source = source,
                Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 }, FrameSize = 32,
            });

            string errorQueue = $"{prefix}-prepare-video_error";
            long waiting = 0;
            for (int i = 0; i < 150 && waiting < 1; i++)
            {
                await Task.Delay(200);
                waiting = await TestBroker.MessageCountAsync(errorQueue);
            }

            Assert.Equal(1, waiting);
            Assert.Equal(0, await TestBroker.MessageCountAsync($"{prefix}-prepare-video"));
            StepRecord step = Assert.Single(await store.GetStepsAsync(jobId, CancellationToken.None));
            Assert.False(step.Completed);
            Assert.True(step.LeaseUntil < DateTimeOffset.UtcNow.AddSeconds(1), "a failed attempt gives its step back at once");
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
            await TestBroker.DeleteQueuesAsync(prefix);
            BusTestBed.DeleteData(data);
        }
    }
}
