using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Http;

/// <summary>
/// Questions become jobs: <c>POST /videos/{id}/questions</c> → 202 with <c>Location: /jobs/{id}</c>; then
/// <c>GET /jobs/{id}</c>, <c>GET /jobs</c>, <c>DELETE /jobs/{id}</c> and <c>GET /jobs/{id}/events</c> (server-sent events).
/// A caller sees only its own jobs when API keys are configured.
/// </summary>
internal static class JobRoutes
{
    public const int MaxQuestionLength = 2000;
    public const int MaxFrames = 2048;

    public static IEndpointRouteBuilder MapJobRoutes(this IEndpointRouteBuilder app)
    {
        app.MapPost("/videos/{videoId}/questions", AskAsync)
            .WithTags("Jobs")
            .WithName("AskQuestion")
            .WithSummary("Ask a question about a registered video; answers 202 Accepted with the job's location.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        RouteGroupBuilder jobs = app.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapGet("/", ListAsync).WithName("ListJobs").WithSummary("A page of the caller's jobs, newest first.");
        jobs.MapGet("/{jobId:guid}", GetAsync).WithName("GetJob").WithSummary("A job's state, progress, result or error.");
        jobs.MapDelete("/{jobId:guid}", CancelAsync).WithName("CancelJob").WithSummary("Cancel a job: sets its cancellation flag and, unless it has ended, moves it to Cancelled.");
        jobs.MapGet("/{jobId:guid}/events", Events).WithName("JobEvents")
            .WithSummary("Server-sent events: 'state', 'progress' and the answer's 'token' pieces while the job runs, then one of 'done', 'faulted' or 'cancelled'.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return app;
    }

    internal static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> AskAsync(string videoId, QuestionRequest body, HttpContext http,
        VideoCatalog catalog, IJobStore store, IPublishEndpoint bus, HttpApiOptions options, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Question) || body.Question.Length > MaxQuestionLength)
        {
            return ApiProblems.Invalid("question", $"The question must be 1 to {MaxQuestionLength} characters.");
        }

        int frames = body.Frames ?? 8;
        if (frames is < 1 or > MaxFrames)
        {
            return ApiProblems.Invalid("frames", $"frames must be 1 to {MaxFrames}.");
        }

        if (body.TokensPerFrame is { } tpf && (tpf is < 1 or > 729 || frames % 4 != 0))
        {
            return ApiProblems.Invalid("tokensPerFrame", "tokensPerFrame must be 1 to 729, and frames a multiple of the HiCo clip length (4).");
        }

        if (ApiProblems.InvalidMaxNewTokens(body.MaxNewTokens) is { } badTokens)
        {
            return badTokens;
        }

        CompressionSettings compression;
        try
        {
            compression = new CompressionSettings
            {
                TokensPerFrame = body.TokensPerFrame, DropLayers = body.DropLayers ?? [], DropRatios = body.DropRatios ?? [], V2peStride = body.V2peStride,
                DropMode = body.DropMode is { } mode ? CompressionOptions.ParseMode(mode) : TokenDropMode.Uniform0Attention,
            };

            // Checked here on their own; the layers against the model's depth when the job starts.
            CompressionOptions.Validate(compression, int.MaxValue);
        }
        catch (VideoLongException e)
        {
            return ApiProblems.Invalid("compression", e.Message);
        }

        if (await catalog.SourceOfAsync(videoId, cancellationToken).ConfigureAwait(false) is not { } source)
        {
            return ApiProblems.NotFound($"No video '{videoId}': upload it with POST /videos or name it with POST /videos/by-path.");
        }

        var request = new AnswerQuestion
        {
            JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = source, Question = body.Question, Model = options.ModelDirectory,
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = frames },
            Compression = compression,
            Generation = new GenerationSettings { MaxNewTokens = body.MaxNewTokens ?? 128, IgnoreEos = body.IgnoreEos },
        };

        return await JobAdmission.SubmitAsync(nameof(AnswerQuestion), request, id => request with { JobId = id }, http, store, bus, options, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<Results<Ok<JobPage>, ValidationProblem>> ListAsync(HttpContext http, IJobStore store, CancellationToken cancellationToken,
        int offset = 0, int limit = 50, JobState? state = null)
    {
        if (offset < 0)
        {
            return ApiProblems.Invalid("offset", "offset must be 0 or more.");
        }

        if (limit is < 1 or > 100)
        {
            return ApiProblems.Invalid("limit", "limit must be 1 to 100.");
        }

        IReadOnlyList<JobRecord> page = await store.ListAsync(new JobListQuery { Owner = ApiKeyMiddleware.CallerOf(http), State = state, Offset = offset, Limit = limit + 1 },
            cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new JobPage(page.Take(limit).Select(JobView.Of).ToArray(), offset, limit,
            page.Count > limit ? $"/jobs?offset={offset + limit}&limit={limit}{(state is null ? "" : $"&state={state}")}" : null));
    }

    internal static async Task<Results<Ok<JobView>, ProblemHttpResult>> GetAsync(Guid jobId, HttpContext http, IJobStore store, CancellationToken cancellationToken) =>
        await FindAsync(new JobId(jobId), http, store, cancellationToken).ConfigureAwait(false) is { } job ? TypedResults.Ok(JobView.Of(job)) : UnknownJob(jobId);

    internal static async Task<Results<Accepted<JobView>, ProblemHttpResult>> CancelAsync(Guid jobId, HttpContext http, IJobStore store, JobCanceller canceller,
        CancellationToken cancellationToken)
    {
        var id = new JobId(jobId);
        if (await FindAsync(id, http, store, cancellationToken).ConfigureAwait(false) is null)
        {
            return UnknownJob(jobId);
        }

        // The flag, the move to Cancelled, and a fan-out event that stops the running stage in whichever process runs it.
        await canceller.CancelAsync(id, cancellationToken).ConfigureAwait(false);
        return TypedResults.Accepted($"/jobs/{jobId}", JobView.Of(await store.GetAsync(id, cancellationToken).ConfigureAwait(false)));
    }

    internal static async Task<Results<ServerSentEventsResult<JsonElement>, ProblemHttpResult>> Events(Guid jobId, HttpContext http, IJobStore store, JobEvents events,
        CancellationToken cancellationToken)
    {
        var id = new JobId(jobId);
        if (await FindAsync(id, http, store, cancellationToken).ConfigureAwait(false) is null)
        {
            return UnknownJob(jobId);
        }

        return TypedResults.ServerSentEvents(StreamAsync(id, store, events, cancellationToken));
    }

    // Progress as the bus reports it; the store decides when the job has ended (it is polled between events, so a
    // cancel or an end missed by the event hub still closes the stream).
    private static async IAsyncEnumerable<SseItem<JsonElement>> StreamAsync(JobId jobId, IJobStore store, JobEvents events,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var progress = Channel.CreateBounded<JobProgressed>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        void OnProgressed(JobProgressed p)
        {
            if (p.JobId == jobId)
            {
                progress.Writer.TryWrite(p);
            }
        }

        // Answer text as it is generated, in sequence order; unbounded so that no piece is lost.
        var tokens = Channel.CreateUnbounded<AnswerTokensGenerated>();
        var sequencer = new AnswerTokenSequencer();
        void OnTokens(AnswerTokensGenerated t)
        {
            if (t.JobId == jobId)
            {
                tokens.Writer.TryWrite(t);
            }
        }

        events.Progressed += OnProgressed;
        events.TokensGenerated += OnTokens;
        try
        {
            JobState? lastState = null;
            bool first = true;
            bool sawRunning = false;   // a job that had ended before the stream opened streams no tokens: no wait for them
            while (!cancellationToken.IsCancellationRequested)
            {
                JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
                if (job.State != lastState)
                {
                    lastState = job.State;
                    yield return Item("state", new { state = job.State, progress = job.Progress });
                    if (first && job.Progress is { } stored)
                    {
                        // The latest progress the store holds, so that a late subscriber still sees where the job got to.
                        yield return Item("progress", new { stage = stored.Stage, done = stored.Done, total = stored.Total });
                    }

                    first = false;
                }

                while (progress.Reader.TryRead(out JobProgressed? p))
                {
                    yield return Item("progress", new { stage = p.Stage, done = p.Done, total = p.Total });
                }

                while (tokens.Reader.TryRead(out AnswerTokensGenerated? t))
                {
                    foreach (AnswerTokensGenerated piece in sequencer.Add(t))
                    {
                        yield return Item("token", new { sequence = piece.Sequence, text = piece.Text });
                    }
                }

                sawRunning |= !job.State.IsTerminal();
                if (job.State == JobState.Succeeded && sawRunning && !sequencer.Completed)
                {
                    // The last pieces may still be on their way: wait a little for the final one, then release what came.
                    using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    grace.CancelAfter(TimeSpan.FromSeconds(1));
                    while (!sequencer.Completed && !grace.IsCancellationRequested)
                    {
                        AnswerTokensGenerated? t = null;
                        try
                        {
                            t = await tokens.Reader.ReadAsync(grace.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                        {
                        }

                        foreach (AnswerTokensGenerated piece in t is null ? [] : sequencer.Add(t))
                        {
                            yield return Item("token", new { sequence = piece.Sequence, text = piece.Text });
                        }
                    }

                    foreach (AnswerTokensGenerated piece in sequencer.Drain())
                    {
                        yield return Item("token", new { sequence = piece.Sequence, text = piece.Text });
                    }
                }

                if (job.State.IsTerminal())
                {
                    JobView view = JobView.Of(job);
                    yield return job.State switch
                    {
                        JobState.Succeeded => Item("done", view),
                        JobState.Faulted => Item("faulted", view),
                        _ => Item("cancelled", view),
                    };
                    yield break;
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(TimeSpan.FromMilliseconds(250));
                try
                {
                    await Task.WhenAny(progress.Reader.WaitToReadAsync(wait.Token).AsTask(), tokens.Reader.WaitToReadAsync(wait.Token).AsTask()).ConfigureAwait(false);
                    await wait.CancelAsync().ConfigureAwait(false);   // releases the other waiter before the next round
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
        finally
        {
            events.Progressed -= OnProgressed;
            events.TokensGenerated -= OnTokens;
        }
    }

    private static SseItem<JsonElement> Item<T>(string type, T value) => new(JsonSerializer.SerializeToElement(value, ApiJson.Options), type);

    private static async Task<JobRecord?> FindAsync(JobId jobId, HttpContext http, IJobStore store, CancellationToken cancellationToken)
    {
        try
        {
            JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
            string? caller = ApiKeyMiddleware.CallerOf(http);
            return caller is null || job.Owner == caller ? job : null;
        }
        catch (Jobs.JobNotFoundException)
        {
            return null;
        }
    }

    private static ProblemHttpResult UnknownJob(Guid jobId) => ApiProblems.NotFound($"No job '{jobId}'.");
}

/// <summary>Body of <c>POST /videos/{id}/questions</c>.</summary>
/// <param name="Question">1 to 2,000 characters.</param>
/// <param name="Frames">Frames sampled uniformly from the video, 1 to 2,048 (default 8).</param>
/// <param name="TokensPerFrame">HiCo clip-level merge to this many tokens per frame (frames must be a multiple of 4); default: the model's pooling.</param>
/// <param name="MaxNewTokens">Most tokens to generate, 1 to 1,024 (default 128).</param>
/// <param name="IgnoreEos">Generate all <paramref name="MaxNewTokens"/>, through end-of-turn tokens (default false).</param>
/// <param name="DropLayers">Video-level compression: LLM layers at which visual tokens are dropped (as <c>chat --drop-layers</c>).</param>
/// <param name="DropRatios">Fractions of visual tokens kept: 1, then one non-increasing value per drop layer (e.g. [1, 0.75, 0.25]).</param>
/// <param name="DropMode">uniform, attention or uniform0_attention (default).</param>
/// <param name="V2peStride">V2PE: visual tokens advance by stride/256 positions (as <c>chat --v2pe-stride</c>).</param>
public sealed record QuestionRequest(string? Question, int? Frames = null, int? TokensPerFrame = null, int? MaxNewTokens = null, bool IgnoreEos = false,
    int[]? DropLayers = null, double[]? DropRatios = null, string? DropMode = null, int? V2peStride = null);

/// <summary>A job as the API shows it.</summary>
public sealed record JobView
{
    public required Guid Id { get; init; }

    public required string Kind { get; init; }

    public required JobState State { get; init; }

    public JobProgress? Progress { get; init; }

    /// <summary>The job's result by kind: an answer (AnswerQuestion), captions (CaptionVideo) or per-region results (AnalyzeImage).</summary>
    public object? Result { get; init; }

    public JobError? Error { get; init; }

    public required bool CancellationRequested { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }

    internal static JobView Of(JobRecord job) => new()
    {
        Id = job.Id.Value, Kind = job.Kind, State = job.State, Progress = job.Progress, Error = job.Error, CancellationRequested = job.CancellationRequested,
        CreatedAt = job.CreatedAt, UpdatedAt = job.UpdatedAt,
        Result = JobResults.Parse(job),
    };
}

/// <summary>A page of <c>GET /jobs</c>; <see cref="Next"/> is the next page's URL, null on the last page.</summary>
public sealed record JobPage(IReadOnlyList<JobView> Items, int Offset, int Limit, string? Next);
