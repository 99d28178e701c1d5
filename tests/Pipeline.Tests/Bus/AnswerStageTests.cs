using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_the_answer_stage_streams_progresses_and_is_cancelled(BusVideos media) : IClassFixture<BusVideos>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Tokens_arrive_in_sequence_before_the_end_and_concatenate_to_the_answer()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync(configure: o => o.TokenFlushTokens = 1);
        JobEvents events = bed.Services.GetRequiredService<JobEvents>();
        var arrived = new ConcurrentQueue<AnswerTokensGenerated>();
        JobId job = await bed.NewJobAsync();
        events.TokensGenerated += t =>
        {
            if (t.JobId == job)
            {
                arrived.Enqueue(t);
            }
        };

        AnswerQuestion question = BusTestBed.Question(job, media.Video) with { Generation = new GenerationSettings { MaxNewTokens = 12, IgnoreEos = true } };
        AnswerGenerated answered = Assert.IsType<AnswerGenerated>(await bed.AskAsync(question));

        AnswerTokensGenerated[] published = bed.Harness.Published.Select<AnswerTokensGenerated>(x => x.Context.Message.JobId == job)
            .Select(x => x.Context.Message).OrderBy(t => t.Sequence).ToArray();
        Assert.True(published.Length > 2, $"expected several pieces, got {published.Length}");
        Assert.Equal(Enumerable.Range(0, published.Length), published.Select(t => t.Sequence));
        Assert.All(published, t => Assert.True(t.Timestamp <= answered.Timestamp));             // every piece went out before the end
        Assert.Equal([.. Enumerable.Repeat(false, published.Length - 1), true], published.Select(t => t.Final));
        Assert.Equal(12, published[^1].TokensGenerated);
        Assert.True(published.Zip(published.Skip(1)).All(p => p.Second.TokensGenerated >= p.First.TokensGenerated));
        Assert.Equal(answered.Answer, string.Concat(published.Select(t => t.Text)).Trim());

        // The in-process observers (SSE, the CLI) see them too, and the sequencer gives them back in order.
        var sequencer = new AnswerTokenSequencer();
        string streamed = string.Concat(arrived.SelectMany(sequencer.Add).Select(t => t.Text));
        Assert.True(sequencer.Completed);
        Assert.Equal(answered.Answer, streamed.Trim());

        // Answer progress: tokens of max new tokens, in the store and on the bus.
        Assert.True(await bed.Harness.Published.Any<JobProgressed>(x => x.Context.Message.JobId == job && x.Context.Message.Stage == JobStage.Answer
            && x.Context.Message.Done == 12 && x.Context.Message.Total == 12));
    }

    [Fact]
    public void The_coalescer_sends_the_first_piece_at_once_then_every_N_tokens_and_the_sequencer_orders_and_deduplicates()
    {
        var job = new JobId(Guid.NewGuid());
        var coalescer = new AnswerTokenCoalescer(job, TimeSpan.FromHours(1), maxTokens: 4);
        var sent = new List<AnswerTokensGenerated>();
        for (int i = 1; i <= 10; i++)
        {
            if (coalescer.Add($"t{i} ", i) is { } piece)
            {
                sent.Add(piece);
            }
        }

        sent.Add(coalescer.Complete());
        Assert.Equal(["t1 ", "t2 t3 t4 t5 ", "t6 t7 t8 t9 ", "t10 "], sent.Select(p => p.Text));
        Assert.Equal([1, 5, 9, 10], sent.Select(p => p.TokensGenerated));
        Assert.Equal([0, 1, 2, 3], sent.Select(p => p.Sequence));
        Assert.True(sent[^1].Final);

        var sequencer = new AnswerTokenSequencer();
        Assert.Empty(sequencer.Add(sent[2]));                                   // early: waits for 1
        Assert.Equal([0], sequencer.Add(sent[0]).Select(p => p.Sequence));
        Assert.Empty(sequencer.Add(sent[0]));                                   // duplicate
        Assert.Equal([1, 2], sequencer.Add(sent[1]).Select(p => p.Sequence));
        Assert.Empty(sequencer.Add(sent[2]));                                   // duplicate of a released one
        Assert.False(sequencer.Completed);
        Assert.Equal([3], sequencer.Add(sent[3]).Select(p => p.Sequence));
        Assert.True(sequencer.Completed);
    }

    [Fact]
    public async Task A_cancellation_during_generation_stops_between_tokens_and_ends_Cancelled_with_no_result()
    {
        // A long poll interval: the fan-out event alone must stop the stage.
        await using BusTestBed bed = await BusTestBed.StartAsync(configure: o =>
        {
            o.TokenFlushTokens = 1;
            o.CancellationPollInterval = TimeSpan.FromMinutes(5);
        });
        JobId job = await bed.NewJobAsync();
        JobCanceller canceller = bed.Services.GetRequiredService<JobCanceller>();
        var cancelledAt = new TaskCompletionSource<Stopwatch>(TaskCreationOptions.RunContinuationsAsynchronously);
        bed.Services.GetRequiredService<JobEvents>().TokensGenerated += t =>
        {
            if (t.JobId == job && t.Sequence == 0)
            {
                _ = Task.Run(async () =>
                {
                    var watch = Stopwatch.StartNew();
                    await canceller.CancelAsync(job, CancellationToken.None);
                    cancelledAt.TrySetResult(watch);
                });
            }
        };

        AnswerQuestion question = BusTestBed.Question(job, media.Video) with { Generation = new GenerationSettings { MaxNewTokens = 2000, IgnoreEos = true } };
        object ending = await bed.AskAsync(question);
        Stopwatch sinceCancel = await cancelledAt.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsType<JobCancelled>(ending);
        Assert.True(sinceCancel.Elapsed < TimeSpan.FromSeconds(10), $"took {sinceCancel.Elapsed} after the cancel");

        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.Null(record.ResultJson);
        Assert.False(await bed.Harness.Published.Any<AnswerGenerated>(x => x.Context.Message.JobId == job));
        Assert.False(await bed.Harness.Published.Any<JobFaulted>(x => x.Context.Message.JobId == job));
        await WaitUntilAsync(() => bed.Services.GetRequiredService<JobCancellations>().RunningCount(job) == 0);   // the stage itself stopped
        AnswerTokensGenerated[] pieces = bed.Harness.Published.Select<AnswerTokensGenerated>(x => x.Context.Message.JobId == job).Select(x => x.Context.Message).ToArray();
        Assert.DoesNotContain(pieces, p => p.Final);                              // generation never finished
        Assert.True(pieces.Max(p => p.TokensGenerated) < 2000);
        Assert.True(await bed.Harness.Published.Any<JobCancellationRequested>(x => x.Context.Message.JobId == job));
    }

    [Fact]
    public async Task The_store_flag_alone_stops_a_running_generation_through_the_periodic_check()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync(configure: o =>
        {
            o.TokenFlushTokens = 1;
            o.CancellationPollInterval = TimeSpan.FromMilliseconds(100);
        });
        JobId job = await bed.NewJobAsync();
        bed.Services.GetRequiredService<JobEvents>().TokensGenerated += t =>
        {
            if (t.JobId == job && t.Sequence == 0)
            {
                _ = bed.Store.RequestCancellationAsync(job, CancellationToken.None);   // no event: only the flag another process would set
            }
        };

        object ending = await bed.AskAsync(BusTestBed.Question(job, media.Video) with { Generation = new GenerationSettings { MaxNewTokens = 2000, IgnoreEos = true } });
        Assert.IsType<JobCancelled>(ending);
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.Null(record.ResultJson);
        Assert.False(await bed.Harness.Published.Any<JobFaulted>(x => x.Context.Message.JobId == job));
    }

    [Fact]
    public async Task A_cancellation_while_the_encode_stage_runs_ends_Cancelled_and_stores_no_tokens()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync(configure: o => o.CancellationPollInterval = TimeSpan.FromMinutes(5));
        JobId job = await bed.NewJobAsync();

        // Hold the model: the encode stage starts (Encoding), loads nothing from the cache, and waits for the model inside the stage.
        LoadedModel model = await bed.Services.GetRequiredService<ModelRegistry>().GetAsync(BusTestBed.Model, default);
        await model.Gate.WaitAsync();
        Task<object> ending;
        try
        {
            ending = bed.AskAsync(BusTestBed.Question(job, media.Video));
            await WaitUntilAsync(async () => (await bed.Store.GetAsync(job, default)).State == JobState.Encoding
                && bed.Services.GetRequiredService<JobCancellations>().RunningCount(job) >= 2);   // the orchestrator and the encode stage
            var watch = Stopwatch.StartNew();
            await bed.Services.GetRequiredService<JobCanceller>().CancelAsync(job, default);
            Assert.IsType<JobCancelled>(await ending.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        }
        finally
        {
            model.Gate.Release();
        }

        await WaitUntilAsync(() => bed.Services.GetRequiredService<JobCancellations>().RunningCount(job) == 0);
        Assert.False(await bed.Harness.Sent.Any<VideoEncoded>(x => x.Context.Message.JobId == job));   // the stage never answered
        Assert.False(await bed.Harness.Published.Any<JobFaulted>(x => x.Context.Message.JobId == job));
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.Null(record.ResultJson);
    }

    [Fact]
    public async Task A_cancellation_during_the_decode_loop_stops_prepare_and_ends_Cancelled()
    {
        string longVideo = media.Make("bus-long.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "120", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        await using BusTestBed bed = await BusTestBed.StartAsync(configure: o => o.CancellationPollInterval = TimeSpan.FromMinutes(5));
        JobId job = await bed.NewJobAsync();
        JobCanceller canceller = bed.Services.GetRequiredService<JobCanceller>();
        var cancelled = new TaskCompletionSource<Stopwatch>(TaskCreationOptions.RunContinuationsAsynchronously);
        bed.Services.GetRequiredService<JobEvents>().Progressed += p =>
        {
            if (p.JobId == job && p.Stage == JobStage.Prepare && p.Done == 1)
            {
                _ = Task.Run(async () =>
                {
                    var watch = Stopwatch.StartNew();
                    await canceller.CancelAsync(job, CancellationToken.None);
                    cancelled.TrySetResult(watch);
                });
            }
        };

        AnswerQuestion question = BusTestBed.Question(job, longVideo) with { Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 3000 } };
        Assert.IsType<JobCancelled>(await bed.AskAsync(question));
        Stopwatch sinceCancel = await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(sinceCancel.Elapsed < TimeSpan.FromSeconds(10), $"took {sinceCancel.Elapsed}");
        await WaitUntilAsync(() => bed.Services.GetRequiredService<JobCancellations>().RunningCount(job) == 0);
        Assert.False(await bed.Harness.Sent.Any<VideoPrepared>(x => x.Context.Message.JobId == job));    // the decode loop never finished
        Assert.False(await bed.Harness.Consumed.Any<EncodeVideo>(x => x.Context.Message.JobId == job));
        Assert.Equal(JobState.Cancelled, (await bed.Store.GetAsync(job, default)).State);
    }

    [Fact]
    public async Task The_vision_tower_stops_between_frame_chunks_when_cancelled()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        LoadedModel model = await bed.Services.GetRequiredService<ModelRegistry>().GetAsync(BusTestBed.Model, default);
        using var pixels = TorchSharp.torch.rand([1, 12, 3, 32, 32]);
        using var cts = new CancellationTokenSource();
        var done = new List<long>();
        var options = new Language.Models.LlavaOnevision.VlmOptions { VisionBatchSize = 4 };
        Assert.ThrowsAny<OperationCanceledException>(() => model.Model.EncodeVideos(pixels, options, n =>
        {
            done.Add(n);
            cts.Cancel();
        }, cts.Token));
        Assert.Equal([4L], done);                                                  // one chunk of 4 frames, then stopped

        done.Clear();
        using TorchSharp.torch.Tensor all = model.Model.EncodeVideos(pixels, options, done.Add);
        Assert.Equal([4L, 8L, 12L], done);
        Assert.Equal(12 * 4 + 1, all.shape[0]);
    }

    private static async Task WaitUntilAsync(Func<bool> condition) => await WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "condition not met in 60 s");
            await Task.Delay(20);
        }
    }
}

public sealed class When_the_answer_stage_gets_compression_settings(BusVideos media) : IClassFixture<BusVideos>
{
    [Theory]
    [InlineData(new[] { 5 }, new[] { 1.0, 0.5 }, "Invalid drop layer 5")]
    [InlineData(new[] { 1 }, new[] { 1.0 }, "needs 2 values")]
    [InlineData(new[] { 1 }, new[] { 1.0, 0.0 }, "in (0, 1]")]
    public async Task Bad_settings_fault_the_job_with_the_reason_before_any_stage_runs(int[] layers, double[] ratios, string message)
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        AnswerQuestion question = BusTestBed.Question(job, media.Video) with { Compression = new CompressionSettings { DropLayers = layers, DropRatios = ratios } };
        JobFaulted faulted = Assert.IsType<JobFaulted>(await bed.AskAsync(question));
        Assert.Contains(message, faulted.ErrorMessage, StringComparison.Ordinal);
        Assert.False(await bed.Harness.Consumed.Any<PrepareVideo>(x => x.Context.Message.JobId == job));
        Assert.Equal(JobState.Faulted, (await bed.Store.GetAsync(job, default)).State);
    }

    [Fact]
    public async Task A_stage_command_with_bad_settings_is_refused_by_the_answer_stage_itself()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        ArtifactRef source = await ArtifactRefs.ForFileAsync(media.Video, default);
        VideoPrepared prepared = await bed.RequestAsync<PrepareVideo, VideoPrepared>(new PrepareVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Source = source, FrameSize = 32, Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        });
        VideoEncoded encoded = await bed.RequestAsync<EncodeVideo, VideoEncoded>(new EncodeVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = BusTestBed.Model,
        });
        var bad = new GenerateAnswer
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, VisualTokens = encoded.VisualTokens, Question = "What?", Model = BusTestBed.Model,
            Compression = new CompressionSettings { V2peStride = 512 },
        };
        MassTransit.RequestFaultException fault = await Assert.ThrowsAsync<MassTransit.RequestFaultException>(() => bed.RequestAsync<GenerateAnswer, AnswerGenerated>(bad));
        Assert.Contains("--v2pe-stride 512", fault.Fault!.Exceptions[0].Message, StringComparison.Ordinal);
    }
}

public sealed class When_video_prompt_compression_is_applied
{
    [Fact]
    [Trait("Category", "HiCo")]
    [Trait("Category", "V2PE")]
    public async Task Dropping_and_V2PE_change_the_prefill_logits_and_neutral_settings_do_not()
    {
        var registry = new ModelRegistry(new PipelineOptions { TokenizerDirectory = Fixtures.Dir("tokenizer") });
        try
        {
            LoadedModel model = await registry.GetAsync(BusTestBed.Model, default);
            Language.Models.Qwen2.Qwen2ForCausalLM lm = model.Model.LanguageModel;
            const int Length = 40;
            bool[] isVisual = Enumerable.Range(0, Length).Select(i => i is >= 5 and < 30).ToArray();   // 25 visual tokens after 5 text ones
            TorchSharp.torch.random.manual_seed(3);
            using TorchSharp.torch.Tensor embeds = TorchSharp.torch.randn([1, Length, lm.Config.HiddenSize]);

            float[] Logits(Language.Models.LlavaOnevision.VlmOptions options)
            {
                using var compression = Language.Models.LlavaOnevision.VideoPromptCompression.Apply(lm, isVisual, options);
                using TorchSharp.torch.Tensor positions = compression.PositionIds?.alias() ?? TorchSharp.torch.arange(0, Length, TorchSharp.torch.ScalarType.Float32).unsqueeze(0);
                using TorchSharp.torch.Tensor mask = TorchSharp.torch.ones([1, Length], TorchSharp.torch.ScalarType.Int64);
                using Language.Generation.IKeyValueCache cache = compression.Model.CreateCache(1, Length + 1);
                using TorchSharp.torch.Tensor logits = compression.Model.NextTokenLogits(null, embeds, mask, positions, cache);
                return logits.data<float>().ToArray();
            }

            float[] plain = Logits(new());
            float[] dropped = Logits(new() { DropLayers = [1], DropRatios = [1, 0.5], DropMode = "uniform" });
            float[] v2pe = Logits(new() { V2peStride = 64 });
            float[] neutral = Logits(new() { DropLayers = [1], DropRatios = [1, 1], V2peStride = 256 });
            static double MaxDiff(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(MaxDiff(plain, dropped) > 1e-4, "dropping did not change the logits");
            Assert.True(MaxDiff(plain, v2pe) > 1e-4, "V2PE did not change the logits");
            Assert.True(MaxDiff(plain, neutral) < 1e-5, $"ratio 1 and stride 256 should be the plain model: {MaxDiff(plain, neutral)}");
        }
        finally
        {
            registry.Dispose();
        }
    }
}
