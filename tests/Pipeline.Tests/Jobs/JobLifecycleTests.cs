using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;
using static VideoLong.Pipeline.Tests.Jobs.JobStoreTestBed;

namespace VideoLong.Pipeline.Tests.Jobs;

public sealed class When_a_job_is_created
{
    [Fact]
    public async Task Should_be_queued_with_its_request_kind_and_owner()
    {
        using JobStoreTestBed bed = await CreateAsync();

        JobId id = await bed.Store.CreateAsync("AnswerQuestion", """{"question":"what happens?"}""", "key-1", Ct);
        JobRecord job = await bed.Store.GetAsync(id, Ct);

        Assert.Equal(id, job.Id);
        Assert.Equal(JobState.Queued, job.State);
        Assert.Equal("AnswerQuestion", job.Kind);
        Assert.Equal("key-1", job.Owner);
        Assert.Equal("""{"question":"what happens?"}""", job.RequestJson);
        Assert.Null(job.ResultJson);
        Assert.Null(job.Error);
        Assert.Null(job.Progress);
        Assert.False(job.CancellationRequested);
        Assert.Equal(bed.Clock.GetUtcNow(), job.CreatedAt);
    }

    [Fact]
    public async Task Should_accept_no_owner()
    {
        using JobStoreTestBed bed = await CreateAsync();

        JobId id = await bed.Store.CreateAsync("CaptionVideo", "{}", owner: null, Ct);

        Assert.Null((await bed.Store.GetAsync(id, Ct)).Owner);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"open\":")]
    public async Task Should_refuse_a_request_that_is_not_json(string requestJson)
    {
        using JobStoreTestBed bed = await CreateAsync();

        await Assert.ThrowsAnyAsync<ArgumentException>(() => bed.Store.CreateAsync("AnswerQuestion", requestJson, null, Ct));
    }

    [Fact]
    public async Task Should_refuse_an_empty_kind()
    {
        using JobStoreTestBed bed = await CreateAsync();

        await Assert.ThrowsAnyAsync<ArgumentException>(() => bed.Store.CreateAsync(" ", "{}", null, Ct));
    }
}

public sealed class When_an_unknown_job_is_named
{
    [Fact]
    public async Task Should_throw_JobNotFoundException_with_the_id_from_every_operation()
    {
        using JobStoreTestBed bed = await CreateAsync();
        var unknown = new JobId(Guid.NewGuid());
        IJobStore store = bed.Store;

        Func<Task>[] operations =
        [
            () => store.GetAsync(unknown, Ct),
            () => store.TransitionAsync(unknown, JobState.Preparing, Ct),
            () => store.ReportProgressAsync(unknown, JobStage.Prepare, 1, 2, Ct),
            () => store.StoreResultAsync(unknown, "{}", Ct),
            () => store.SucceedAsync(unknown, "{}", Ct),
            () => store.FaultAsync(unknown, new JobError(null, "boom", "System.Exception"), Ct),
            () => store.GetTimingsAsync(unknown, Ct),
            () => store.RequestCancellationAsync(unknown, Ct),
            () => store.IsCancellationRequestedAsync(unknown, Ct),
            () => store.TryBeginStepAsync(unknown, JobStage.Prepare, Guid.NewGuid(), Ct),
            () => store.CompleteStepAsync(unknown, JobStage.Prepare, Guid.NewGuid(), "{}", Ct),
            () => store.AbandonStepAsync(unknown, JobStage.Prepare, Guid.NewGuid(), Ct),
        ];

        foreach (Func<Task> operation in operations)
        {
            JobNotFoundException e = await Assert.ThrowsAsync<JobNotFoundException>(operation);
            Assert.Equal(unknown, e.JobId);
            Assert.Contains(unknown.Value.ToString(), e.Message, StringComparison.Ordinal);
            Assert.IsAssignableFrom<VideoLongException>(e);
        }
    }
}

public sealed class When_jobs_are_listed
{
    [Fact]
    public async Task Should_return_pages_newest_first()
    {
        using JobStoreTestBed bed = await CreateAsync();
        var ids = new List<JobId>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add(await bed.Store.CreateAsync("AnswerQuestion", $$"""{"n":{{i}}}""", null, Ct));
            bed.Clock.Advance(TimeSpan.FromSeconds(1));
        }

        IReadOnlyList<JobRecord> first = await bed.Store.ListAsync(new JobListQuery { Limit = 2 }, Ct);
        IReadOnlyList<JobRecord> second = await bed.Store.ListAsync(new JobListQuery { Offset = 2, Limit = 2 }, Ct);
        IReadOnlyList<JobRecord> last = await bed.Store.ListAsync(new JobListQuery { Offset = 4, Limit = 2 }, Ct);

        Assert.Equal([ids[4], ids[3]], first.Select(j => j.Id));
        Assert.Equal([ids[2], ids[1]], second.Select(j => j.Id));
        Assert.Equal([ids[0]], last.Select(j => j.Id));
    }

    [Fact]
    public async Task Should_keep_creation_order_for_jobs_created_in_the_same_tick()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId older = await bed.Store.CreateAsync("AnswerQuestion", "{}", null, Ct);
        JobId newer = await bed.Store.CreateAsync("AnswerQuestion", "{}", null, Ct);

        IReadOnlyList<JobRecord> jobs = await bed.Store.ListAsync(new JobListQuery(), Ct);

        Assert.Equal([newer, older], jobs.Select(j => j.Id));
    }

    [Fact]
    public async Task Should_filter_by_state_and_by_owner()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId queued = await bed.Store.CreateAsync("AnswerQuestion", "{}", "alice", Ct);
        JobId preparing = await bed.Store.CreateAsync("AnswerQuestion", "{}", "bob", Ct);
        await bed.Store.TransitionAsync(preparing, JobState.Preparing, Ct);

        IReadOnlyList<JobRecord> byState = await bed.Store.ListAsync(new JobListQuery { State = JobState.Preparing }, Ct);
        IReadOnlyList<JobRecord> byOwner = await bed.Store.ListAsync(new JobListQuery { Owner = "alice" }, Ct);

        Assert.Equal([preparing], byState.Select(j => j.Id));
        Assert.Equal([queued], byOwner.Select(j => j.Id));
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(0, 0)]
    [InlineData(0, JobListQuery.MaxLimit + 1)]
    public async Task Should_refuse_a_page_out_of_range(int offset, int limit)
    {
        using JobStoreTestBed bed = await CreateAsync();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bed.Store.ListAsync(new JobListQuery { Offset = offset, Limit = limit }, Ct));
    }
}

public sealed class When_a_job_changes_state
{
    [Fact]
    public async Task Should_follow_the_happy_path_to_Succeeded()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await bed.Store.CreateAsync("AnswerQuestion", "{}", null, Ct);

        Assert.True(await bed.Store.TransitionAsync(id, JobState.Preparing, Ct));
        Assert.True(await bed.Store.TransitionAsync(id, JobState.Encoding, Ct));
        Assert.True(await bed.Store.TransitionAsync(id, JobState.Answering, Ct));
        Assert.True(await bed.Store.TransitionAsync(id, JobState.Succeeded, Ct));

        Assert.Equal(JobState.Succeeded, (await bed.Store.GetAsync(id, Ct)).State);
    }

    [Theory]
    [InlineData(JobState.Queued, JobState.Faulted)]
    [InlineData(JobState.Queued, JobState.Cancelled)]
    [InlineData(JobState.Encoding, JobState.Faulted)]
    [InlineData(JobState.Answering, JobState.Cancelled)]
    public async Task Should_fault_or_cancel_from_any_unfinished_state(JobState from, JobState to)
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, from);

        Assert.True(await bed.Store.TransitionAsync(id, to, Ct));
        Assert.Equal(to, (await bed.Store.GetAsync(id, Ct)).State);
    }

    [Theory]
    [InlineData(JobState.Queued, JobState.Answering)]
    [InlineData(JobState.Queued, JobState.Succeeded)]
    [InlineData(JobState.Preparing, JobState.Queued)]
    [InlineData(JobState.Encoding, JobState.Preparing)]
    [InlineData(JobState.Succeeded, JobState.Faulted)]
    [InlineData(JobState.Faulted, JobState.Cancelled)]
    [InlineData(JobState.Cancelled, JobState.Preparing)]
    [InlineData(JobState.Succeeded, JobState.Succeeded)]
    public async Task Should_refuse_any_other_move_and_say_what_is_allowed(JobState from, JobState to)
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, from);

        InvalidJobTransitionException e = await Assert.ThrowsAsync<InvalidJobTransitionException>(() => bed.Store.TransitionAsync(id, to, Ct));

        Assert.Equal(id, e.JobId);
        Assert.Equal(from, e.From);
        Assert.Equal(to, e.To);
        Assert.Contains($"from {from} to {to}", e.Message, StringComparison.Ordinal);
        Assert.Equal(from, (await bed.Store.GetAsync(id, Ct)).State);
    }

    [Fact]
    public async Task Should_treat_a_repeated_move_into_the_current_state_as_a_no_op()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await CreateInStateAsync(bed.Store, JobState.Encoding);

        Assert.False(await bed.Store.TransitionAsync(id, JobState.Encoding, Ct));
        Assert.Equal(JobState.Encoding, (await bed.Store.GetAsync(id, Ct)).State);
    }

    [Fact]
    public async Task Should_refuse_an_undefined_state()
    {
        using JobStoreTestBed bed = await CreateAsync();
        JobId id = await bed.Store.CreateAsync("AnswerQuestion", "{}", null, Ct);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bed.Store.TransitionAsync(id, (JobState)42, Ct));
    }

    internal static async Task<JobId> CreateInStateAsync(IJobStore store, JobState state)
    {
        JobId id = await store.CreateAsync("AnswerQuestion", "{}", null, Ct);
        JobState[] path = state switch
        {
            JobState.Queued => [],
            JobState.Preparing => [JobState.Preparing],
            JobState.Encoding => [JobState.Preparing, JobState.Encoding],
            JobState.Answering => [JobState.Preparing, JobState.Encoding, JobState.Answering],
            JobState.Succeeded => [JobState.Preparing, JobState.Encoding, JobState.Answering, JobState.Succeeded],
            _ => [state],
        };
        foreach (JobState next in path)
        {
            await store.TransitionAsync(id, next, Ct);
        }

        return id;
    }
}
