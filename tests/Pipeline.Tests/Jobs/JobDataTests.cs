using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;
using static VideoLong.Pipeline.Tests.Jobs.JobStoreTestBed;
using static VideoLong.Pipeline.Tests.Jobs.When_a_job_changes_state;

namespace VideoLong.Pipeline.Tests.Jobs;

public sealed class When_progress_is_reported
{
    [Fact]
    public async Task Should_keep_the_latest_stage_done_and_total()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);

        Assert.True(await bed.Store.ReportProgressAsync(id, JobStage.Encode, 100, 3600, Ct));
        Assert.True(await bed.Store.ReportProgressAsync(id, JobStage.Encode, 1200, 3600, Ct));

        Assert.Equal(new JobProgress(JobStage.Encode, 1200, 3600), (await bed.Store.GetAsync(id, Ct)).Progress);
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(0, -1)]
    [InlineData(11, 10)]
    public async Task Should_refuse_counts_out_of_range(long done, long total)
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bed.Store.ReportProgressAsync(id, JobStage.Prepare, done, total, Ct));
    }

    [Fact]
    public async Task Should_be_ignored_once_the_job_has_ended()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Cancelled);

        Assert.False(await bed.Store.ReportProgressAsync(id, JobStage.Prepare, 1, 2, Ct));
        Assert.Null((await bed.Store.GetAsync(id, Ct)).Progress);
    }
}

public sealed class When_a_job_finishes
{
    [Fact]
    public async Task Should_store_the_result_and_succeed_in_one_step()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Answering);

        await bed.Store.SucceedAsync(id, """{"answer":"a cat","timestamps":[12.5]}""", Ct);

        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("""{"answer":"a cat","timestamps":[12.5]}""", job.ResultJson);
    }

    [Fact]
    public async Task Should_not_succeed_before_answering()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);

        await Assert.ThrowsAsync<InvalidJobTransitionException>(() => bed.Store.SucceedAsync(id, "{}", Ct));
        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.Equal(JobState.Encoding, job.State);
        Assert.Null(job.ResultJson);
    }

    [Fact]
    public async Task Should_store_a_partial_result_without_changing_state()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Answering);

        await bed.Store.StoreResultAsync(id, """{"segments":[]}""", Ct);

        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.Equal(JobState.Answering, job.State);
        Assert.Equal("""{"segments":[]}""", job.ResultJson);
    }

    [Fact]
    public async Task Should_refuse_a_result_for_a_cancelled_job()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Cancelled);

        JobStateException e = await Assert.ThrowsAsync<JobStateException>(() => bed.Store.StoreResultAsync(id, "{}", Ct));
        Assert.Equal(JobState.Cancelled, e.State);
    }

    [Fact]
    public async Task Should_refuse_a_result_that_is_not_json()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Answering);

        await Assert.ThrowsAsync<ArgumentException>(() => bed.Store.StoreResultAsync(id, "{answer", Ct));
    }

    [Fact]
    public async Task Should_store_the_error_and_fault_in_one_step()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);
        var error = new JobError(JobStage.Prepare, "Invalid start 3605.2 s: must be ≥ 0 and < 3600.0 s.", "VideoLong.Ingest.SamplingRangeException");

        await bed.Store.FaultAsync(id, error, Ct);

        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.Equal(JobState.Faulted, job.State);
        Assert.Equal(error, job.Error);
    }

    [Fact]
    public async Task Should_not_fault_a_job_that_already_succeeded()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Succeeded);

        await Assert.ThrowsAsync<InvalidJobTransitionException>(() => bed.Store.FaultAsync(id, new JobError(null, "late", "System.Exception"), Ct));
        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Null(job.Error);
    }
}

public sealed class When_a_job_moves_through_its_stages
{
    [Fact]
    public async Task Should_record_when_each_state_started_and_ended()
    {
        using JobStoreTestBed bed = await CreateAsync();
        DateTimeOffset t0 = bed.Clock.GetUtcNow();
        JobId id = await bed.Store.CreateAsync("AnswerQuestion", "{}", null, Ct);
        bed.Clock.Advance(TimeSpan.FromSeconds(1));
        await bed.Store.TransitionAsync(id, JobState.Preparing, Ct);
        bed.Clock.Advance(TimeSpan.FromSeconds(2));
        await bed.Store.TransitionAsync(id, JobState.Encoding, Ct);
        bed.Clock.Advance(TimeSpan.FromSeconds(3));

        IReadOnlyList<StageTiming> running = await bed.Store.GetTimingsAsync(id, Ct);
        Assert.Equal(
            [
                new StageTiming(JobState.Queued, t0, t0.AddSeconds(1)),
                new StageTiming(JobState.Preparing, t0.AddSeconds(1), t0.AddSeconds(3)),
                new StageTiming(JobState.Encoding, t0.AddSeconds(3), null),
            ],
            running);

        await bed.Store.TransitionAsync(id, JobState.Answering, Ct);
        bed.Clock.Advance(TimeSpan.FromSeconds(4));
        await bed.Store.SucceedAsync(id, "{}", Ct);

        IReadOnlyList<StageTiming> done = await bed.Store.GetTimingsAsync(id, Ct);
        Assert.Equal([JobState.Queued, JobState.Preparing, JobState.Encoding, JobState.Answering], done.Select(t => t.State));
        Assert.Equal([1.0, 2.0, 3.0, 4.0], done.Select(t => t.Duration!.Value.TotalSeconds));
    }

    [Fact]
    public async Task Should_close_the_running_stage_when_the_job_faults()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);
        bed.Clock.Advance(TimeSpan.FromSeconds(5));

        await bed.Store.FaultAsync(id, new JobError(JobStage.Encode, "out of memory", "System.OutOfMemoryException"), Ct);

        StageTiming encoding = (await bed.Store.GetTimingsAsync(id, Ct)).Single(t => t.State == JobState.Encoding);
        Assert.Equal(TimeSpan.FromSeconds(5), encoding.Duration);
    }
}

public sealed class When_cancellation_is_requested
{
    [Fact]
    public async Task Should_set_the_flag_that_workers_read()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);
        Assert.False(await bed.Store.IsCancellationRequestedAsync(id, Ct));

        Assert.True(await bed.Store.RequestCancellationAsync(id, Ct));

        Assert.True(await bed.Store.IsCancellationRequestedAsync(id, Ct));
        JobRecord job = await bed.Store.GetAsync(id, Ct);
        Assert.True(job.CancellationRequested);
        Assert.Equal(JobState.Encoding, job.State);   // the worker that reads the flag moves it to Cancelled
        Assert.True(await bed.Store.TransitionAsync(id, JobState.Cancelled, Ct));
    }

    [Fact]
    public async Task Should_do_nothing_for_a_job_that_has_ended()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Succeeded);

        Assert.False(await bed.Store.RequestCancellationAsync(id, Ct));
        Assert.False(await bed.Store.IsCancellationRequestedAsync(id, Ct));
    }
}
