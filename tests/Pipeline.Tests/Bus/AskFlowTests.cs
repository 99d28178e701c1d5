using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_a_question_is_asked_through_the_in_process_bus(BusVideos media) : IClassFixture<BusVideos>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_job_succeeds_with_the_answer_the_timestamps_and_a_timing_per_state()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        Assert.IsType<AnswerGenerated>(await bed.AskAsync(BusTestBed.Question(job, media.Video)));
        Assert.True(await bed.Harness.Published.Any<AnswerGenerated>(x => x.Context.Message.JobId == job));
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Succeeded, record.State);
        VideoAnswer answer = JsonSerializer.Deserialize<VideoAnswer>(record.ResultJson!, Json)!;
        Assert.NotNull(answer.Answer);   // the tiny random model may stop at once; the text itself is checked by the stage test
        Assert.Equal([0.2, 0.7, 1.2, 1.7], answer.SupportingTimestamps.Select(t => Math.Round(t, 3)));
        Assert.Equal(new CacheHits(false, false), answer.Cached);
        Assert.Equal(17, answer.VisualTokens);

        IReadOnlyList<StageTiming> timings = await bed.Store.GetTimingsAsync(job, default);
        Assert.Equal([JobState.Queued, JobState.Preparing, JobState.Encoding, JobState.Answering], timings.Select(t => t.State));
        Assert.All(timings, t => Assert.NotNull(t.Duration));   // every state the job passed through was closed
        Assert.True(await bed.Harness.Published.Any<JobProgressed>(x => x.Context.Message.JobId == job && x.Context.Message.Stage == JobStage.Answer));
    }

    [Fact]
    public async Task A_second_question_on_the_same_video_and_settings_skips_decode_and_encode()
    {
        string data = Path.Combine(Path.GetTempPath(), "videolong-bus-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using (BusTestBed first = await BusTestBed.StartAsync(data))
            {
                JobId job = await first.NewJobAsync();
                Assert.IsType<AnswerGenerated>(await first.AskAsync(BusTestBed.Question(job, media.Video)));
            }

            // A new process (new bus, same data folder): the artifacts survive.
            await using BusTestBed second = await BusTestBed.StartAsync(data);
            JobId again = await second.NewJobAsync();
            Assert.IsType<AnswerGenerated>(await second.AskAsync(BusTestBed.Question(again, media.Video) with { Question = "And what then?" }));
            VideoAnswer answer = JsonSerializer.Deserialize<VideoAnswer>((await second.Store.GetAsync(again, default)).ResultJson!, Json)!;
            Assert.Equal(new CacheHits(true, true), answer.Cached);
            Assert.False(await second.Harness.Published.Any<JobProgressed>(x => x.Context.Message.JobId == again && x.Context.Message.Stage == JobStage.Prepare));   // no frame was decoded
        }
        finally
        {
            BusTestBed.DeleteData(data);
        }
    }

    [Fact]
    public async Task A_redelivered_question_after_success_neither_reruns_nor_duplicates_the_result()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        AnswerQuestion question = BusTestBed.Question(job, media.Video);
        Assert.IsType<AnswerGenerated>(await bed.AskAsync(question));
        string? result = (await bed.Store.GetAsync(job, default)).ResultJson;

        await bed.Harness.Bus.Publish(question);
        await bed.Harness.InactivityTask;
        Assert.Equal(2, bed.Harness.Consumed.Select<AnswerQuestion>(x => x.Context.Message.JobId == job).Count());

        Assert.Single(bed.Harness.Published.Select<AnswerGenerated>(x => x.Context.Message.JobId == job));
        Assert.Single(bed.Harness.Consumed.Select<PrepareVideo>(x => x.Context.Message.JobId == job));
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Succeeded, record.State);
        Assert.Equal(result, record.ResultJson);
    }

    [Fact]
    public async Task A_cancellation_requested_before_a_stage_ends_the_job_as_Cancelled_not_Faulted()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        await bed.Store.RequestCancellationAsync(job, default);
        await bed.Harness.Bus.Publish(BusTestBed.Question(job, media.Video));
        Assert.True(await bed.Harness.Published.Any<JobCancelled>(x => x.Context.Message.JobId == job));
        Assert.Equal(JobState.Cancelled, (await bed.Store.GetAsync(job, default)).State);
        Assert.False(await bed.Harness.Published.Any<JobFaulted>(x => x.Context.Message.JobId == job));
        Assert.False(await bed.Harness.Published.Any<AnswerGenerated>(x => x.Context.Message.JobId == job));
    }

    [Fact]
    public async Task A_corrupt_video_publishes_JobFaulted_and_leaves_a_Faulted_job_with_the_error()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        Assert.IsType<JobFaulted>(await bed.AskAsync(BusTestBed.Question(job, media.Corrupt)));
        JobFaulted faulted = bed.Harness.Published.Select<JobFaulted>(x => x.Context.Message.JobId == job).Single().Context.Message;
        Assert.Equal(JobStage.Prepare, faulted.Stage);
        Assert.StartsWith("VideoLong.", faulted.ExceptionType, StringComparison.Ordinal);

        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Faulted, record.State);
        Assert.Equal(JobStage.Prepare, record.Error!.Stage);
        Assert.Equal(faulted.ErrorMessage, record.Error.Message);
        Assert.False(await bed.Harness.Published.Any<AnswerGenerated>(x => x.Context.Message.JobId == job));
    }
}
