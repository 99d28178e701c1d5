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
