using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;
using static VideoLong.Pipeline.Tests.Jobs.JobStoreTestBed;
using static VideoLong.Pipeline.Tests.Jobs.When_a_job_changes_state;

namespace VideoLong.Pipeline.Tests.Jobs;

public sealed class When_a_step_message_is_redelivered
{
    [Fact]
    public async Task Should_begin_the_first_delivery_only()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);
        var message = Guid.NewGuid();

        StepBegin first = await bed.Store.TryBeginStepAsync(id, JobStage.Prepare, message, Ct);
        StepBegin again = await bed.Store.TryBeginStepAsync(id, JobStage.Prepare, message, Ct);

        Assert.Equal(new StepBegin(StepOutcome.Begun, null, 1), first);
        Assert.Equal(StepOutcome.InProgress, again.Outcome);
    }

    [Fact]
    public async Task Should_answer_a_finished_step_with_its_stored_result_instead_of_repeating_it()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);
        var message = Guid.NewGuid();
        await bed.Store.TryBeginStepAsync(id, JobStage.Encode, message, Ct);
        await bed.Store.CompleteStepAsync(id, JobStage.Encode, message, """{"tokens":"sha256:ab"}""", Ct);

        StepBegin redelivered = await bed.Store.TryBeginStepAsync(id, JobStage.Encode, message, Ct);
        StepBegin otherCopy = await bed.Store.TryBeginStepAsync(id, JobStage.Encode, Guid.NewGuid(), Ct);

        Assert.Equal(new StepBegin(StepOutcome.AlreadyCompleted, """{"tokens":"sha256:ab"}""", 1), redelivered);
        Assert.Equal(redelivered, otherCopy);
    }

    [Fact]
    public async Task Should_keep_the_first_result_when_a_step_is_completed_twice()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Answering);
        var message = Guid.NewGuid();
        await bed.Store.TryBeginStepAsync(id, JobStage.Answer, message, Ct);

        StepCompletion first = await bed.Store.CompleteStepAsync(id, JobStage.Answer, message, """{"answer":"first"}""", Ct);
        StepCompletion second = await bed.Store.CompleteStepAsync(id, JobStage.Answer, message, """{"answer":"second"}""", Ct);

        Assert.Equal(new StepCompletion("""{"answer":"first"}""", AlreadyCompleted: false), first);
        Assert.Equal(new StepCompletion("""{"answer":"first"}""", AlreadyCompleted: true), second);
        Assert.Equal("""{"answer":"first"}""", (await bed.Store.TryBeginStepAsync(id, JobStage.Answer, message, Ct)).ResultJson);
    }

    [Fact]
    public async Task Should_let_exactly_one_of_many_concurrent_attempts_begin()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);
        var message = Guid.NewGuid();

        StepBegin[] attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
            bed.Store.TryBeginStepAsync(id, JobStage.Prepare, i % 2 == 0 ? message : Guid.NewGuid(), Ct))));

        Assert.Single(attempts, a => a.Begun);
        Assert.Equal(7, attempts.Count(a => a.Outcome == StepOutcome.InProgress));
    }

    [Fact]
    public async Task Should_let_a_retry_take_over_a_step_whose_worker_died_once_its_lease_runs_out()
    {
        using JobStoreTestBed bed = await CreateAsync(stepLease: TimeSpan.FromMinutes(1));
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);
        var message = Guid.NewGuid();
        await bed.Store.TryBeginStepAsync(id, JobStage.Encode, message, Ct);

        bed.Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(StepOutcome.InProgress, (await bed.Store.TryBeginStepAsync(id, JobStage.Encode, message, Ct)).Outcome);
        bed.Clock.Advance(TimeSpan.FromSeconds(2));
        StepBegin takeover = await bed.Store.TryBeginStepAsync(id, JobStage.Encode, message, Ct);

        Assert.Equal(new StepBegin(StepOutcome.Begun, null, 2), takeover);
    }

    [Fact]
    public async Task Should_renew_the_lease_with_each_progress_report()
    {
        using JobStoreTestBed bed = await CreateAsync(stepLease: TimeSpan.FromMinutes(1));
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);
        await bed.Store.TryBeginStepAsync(id, JobStage.Encode, Guid.NewGuid(), Ct);

        bed.Clock.Advance(TimeSpan.FromSeconds(50));
        await bed.Store.ReportProgressAsync(id, JobStage.Encode, 10, 100, Ct);
        bed.Clock.Advance(TimeSpan.FromSeconds(50));

        Assert.Equal(StepOutcome.InProgress, (await bed.Store.TryBeginStepAsync(id, JobStage.Encode, Guid.NewGuid(), Ct)).Outcome);
    }

    [Fact]
    public async Task Should_let_a_retry_begin_at_once_after_the_failed_attempt_abandons_the_step()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);
        var message = Guid.NewGuid();
        await bed.Store.TryBeginStepAsync(id, JobStage.Prepare, message, Ct);

        Assert.False(await bed.Store.AbandonStepAsync(id, JobStage.Prepare, Guid.NewGuid(), Ct));   // not the holder
        Assert.True(await bed.Store.AbandonStepAsync(id, JobStage.Prepare, message, Ct));

        Assert.Equal(new StepBegin(StepOutcome.Begun, null, 2), await bed.Store.TryBeginStepAsync(id, JobStage.Prepare, message, Ct));
    }

    [Fact]
    public async Task Should_not_begin_a_step_of_a_job_that_has_ended()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Cancelled);

        Assert.Equal(StepOutcome.JobEnded, (await bed.Store.TryBeginStepAsync(id, JobStage.Prepare, Guid.NewGuid(), Ct)).Outcome);
    }

    [Fact]
    public async Task Should_refuse_to_complete_a_step_that_was_never_begun()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);

        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            bed.Store.CompleteStepAsync(id, JobStage.Prepare, Guid.NewGuid(), "{}", Ct));
        Assert.Contains("never begun", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_an_empty_message_id()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Preparing);

        await Assert.ThrowsAsync<ArgumentException>(() => bed.Store.TryBeginStepAsync(id, JobStage.Prepare, Guid.Empty, Ct));
    }
}

public sealed class When_the_store_is_reopened
{
    [Fact]
    public async Task Should_keep_jobs_results_errors_timings_flags_and_steps()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId succeeded = await CreateInStateAsync(bed.Store, JobState.Answering);
        var message = Guid.NewGuid();
        await bed.Store.TryBeginStepAsync(succeeded, JobStage.Answer, message, Ct);
        await bed.Store.CompleteStepAsync(succeeded, JobStage.Answer, message, """{"answer":"yes"}""", Ct);
        await bed.Store.SucceedAsync(succeeded, """{"answer":"yes"}""", Ct);
        JobId faulted = await CreateInStateAsync(bed.Store, JobState.Encoding);
        await bed.Store.FaultAsync(faulted, new JobError(JobStage.Encode, "bad frame", "VideoLong.Ingest.DecodeException"), Ct);
        JobId running = await CreateInStateAsync(bed.Store, JobState.Preparing);
        await bed.Store.ReportProgressAsync(running, JobStage.Prepare, 3, 9, Ct);
        await bed.Store.RequestCancellationAsync(running, Ct);
        JobRecord[] before = [.. await bed.Store.ListAsync(new JobListQuery(), Ct)];
        IReadOnlyList<StageTiming> timingsBefore = await bed.Store.GetTimingsAsync(succeeded, Ct);

        await bed.ReopenAsync();

        Assert.Equal(before, await bed.Store.ListAsync(new JobListQuery(), Ct));
        Assert.Equal(timingsBefore, await bed.Store.GetTimingsAsync(succeeded, Ct));
        Assert.Equal(new StepBegin(StepOutcome.AlreadyCompleted, """{"answer":"yes"}""", 1),
            await bed.Store.TryBeginStepAsync(succeeded, JobStage.Answer, message, Ct));
        Assert.True(await bed.Store.IsCancellationRequestedAsync(running, Ct));
        Assert.Equal(new JobProgress(JobStage.Prepare, 3, 9), (await bed.Store.GetAsync(running, Ct)).Progress);
        Assert.Equal("bad frame", (await bed.Store.GetAsync(faulted, Ct)).Error!.Message);
    }

    [Fact]
    public async Task Should_be_in_WAL_mode_at_the_current_schema_version()
    {
        using JobStoreTestBed bed = await CreateAsync();
        await bed.ReopenAsync();

        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={bed.DatabasePath};Pooling=False");
        connection.Open();
        using Microsoft.Data.Sqlite.SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar());
        command.CommandText = "PRAGMA user_version";
        Assert.Equal((long)SqliteJobStore.SchemaVersion, command.ExecuteScalar());
    }

    [Fact]
    public async Task Should_refuse_a_file_with_a_newer_schema()
    {
        using JobStoreTestBed bed = await CreateAsync();
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={bed.DatabasePath};Pooling=False"))
        {
            connection.Open();
            using Microsoft.Data.Sqlite.SqliteCommand command = connection.CreateCommand();
            command.CommandText = $"PRAGMA user_version = {SqliteJobStore.SchemaVersion + 1}";
            command.ExecuteNonQuery();
        }

        VideoLongException e = await Assert.ThrowsAsync<VideoLongException>(bed.ReopenAsync);
        Assert.Contains("newer than this build", e.Message, StringComparison.Ordinal);
    }
}

public sealed class When_several_tasks_write_at_once
{
    [Fact]
    public async Task Should_commit_every_write_without_errors()
    {
        using JobStoreTestBed bed = await CreateAsync();
        using SqliteJobStore second = await SqliteJobStore.OpenAsync(bed.DatabasePath, bed.Options, Ct);   // a second "process"
        const int Writers = 8;
        const int JobsPerWriter = 10;

        JobId[][] created = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            IJobStore store = w % 2 == 0 ? bed.Store : second;
            var ids = new JobId[JobsPerWriter];
            for (int i = 0; i < JobsPerWriter; i++)
            {
                ids[i] = await store.CreateAsync("AnswerQuestion", $$"""{"writer":{{w}},"n":{{i}}}""", $"writer-{w}", Ct);
                await store.TransitionAsync(ids[i], JobState.Preparing, Ct);
                await store.ReportProgressAsync(ids[i], JobStage.Prepare, i, JobsPerWriter, Ct);
                _ = await store.ListAsync(new JobListQuery { Limit = 5 }, Ct);
            }

            return ids;
        })));

        IReadOnlyList<JobRecord> all = await bed.Store.ListAsync(new JobListQuery { State = JobState.Preparing, Limit = JobListQuery.MaxLimit }, Ct);
        Assert.Equal(Writers * JobsPerWriter, all.Count);
        Assert.Equal(created.SelectMany(ids => ids).ToHashSet(), all.Select(j => j.Id).ToHashSet());
        Assert.All(all, j => Assert.NotNull(j.Progress));
    }
}
