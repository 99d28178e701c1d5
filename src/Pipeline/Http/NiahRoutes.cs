using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;
using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Http;

/// <summary>
/// NIAH benchmarks as jobs: <c>POST /niah</c> (a config file under an allowed root, or an inline config whose files lie
/// under allowed roots) → 202 with <c>Location: /jobs/{id}</c>; <c>GET /niah/{id}</c> gives the finished run's summary.
/// </summary>
internal static class NiahRoutes
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static RouteGroupBuilder MapNiahRoutes(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder niah = app.MapGroup("/niah").WithTags("NIAH");
        niah.MapPost("/", StartAsync)
            .WithName("RunNiahBenchmark")
            .WithSummary("Run a needle-in-a-haystack benchmark (configPath under an allowed root, or an inline config); 202 with the job's location.")
            .ProducesProblem(StatusCodes.Status403Forbidden);
        niah.MapGet("/{jobId:guid}", ResultAsync)
            .WithName("NiahResult")
            .WithSummary("The summary of a finished NIAH job: overall score, cells, output files.");
        return niah;
    }

    internal static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> StartAsync(NiahRequest body, HttpContext http, AllowedRoots roots,
        IJobStore store, IPublishEndpoint bus, HttpApiOptions options, CancellationToken cancellationToken)
    {
        if ((body.ConfigPath is null) == (body.Config is null))
        {
            return ApiProblems.Invalid("config", "Give exactly one of configPath (a NIAH config file under an allowed root) and config (the config inline).");
        }

        string? configPath = null, configJson = null;
        NiahConfig config;
        try
        {
            if (body.ConfigPath is { } path)
            {
                configPath = roots.Resolve(path);
                if (configPath is null)
                {
                    return Forbidden($"'{path}' is not under an allowed root of this server.");
                }

                config = NiahConfig.Load(configPath);
            }
            else
            {
                configJson = body.Config!.Value.GetRawText();
                config = NiahConfig.Parse(configJson, "/");
            }
        }
        catch (VideoLongException e)
        {
            return ApiProblems.Invalid(body.ConfigPath is null ? "config" : "configPath", e.Message);
        }

        if (config.ReferencedPaths().FirstOrDefault(p => roots.Resolve(p) is null) is { } outside)
        {
            return Forbidden($"The config reads '{outside}', which is not under an allowed root of this server.");
        }

        var command = new RunNiahBenchmark
        {
            JobId = default, Timestamp = DateTimeOffset.UtcNow, ConfigPath = configPath, ConfigJson = configJson, Model = options.ModelDirectory,
            Quick = body.Quick ?? false, Seed = body.Seed,
        };
        return await JobAdmission.SubmitAsync(nameof(RunNiahBenchmark), command, id => command with { JobId = id }, http, store, bus, options, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<Results<Ok<NiahJobResult>, ProblemHttpResult>> ResultAsync(Guid jobId, IJobStore store, CancellationToken cancellationToken)
    {
        JobRecord job;
        try
        {
            job = await store.GetAsync(new JobId(jobId), cancellationToken).ConfigureAwait(false);
        }
        catch (VideoLongException)
        {
            return ApiProblems.NotFound($"No job '{jobId}'.");
        }

        if (job.Kind != nameof(RunNiahBenchmark))
        {
            return ApiProblems.NotFound($"Job '{jobId}' is not a NIAH benchmark.");
        }

        return job.ResultJson is { } result
            ? TypedResults.Ok(JsonSerializer.Deserialize<NiahJobResult>(result, Json)!)
            : ApiProblems.Problem(StatusCodes.Status409Conflict, "Not finished.", $"The NIAH job is {job.State}; follow /jobs/{jobId}/events.");
    }

    private static ProblemHttpResult Forbidden(string detail) => ApiProblems.Problem(StatusCodes.Status403Forbidden, "Outside the allowed roots.", detail);
}

/// <summary>Body of <c>POST /niah</c>.</summary>
internal sealed record NiahRequest
{
    /// <summary>A NIAH config file (absolute, under an allowed root).</summary>
    public string? ConfigPath { get; init; }

    /// <summary>The config inline (absolute paths, under allowed roots).</summary>
    public JsonElement? Config { get; init; }

    public bool? Quick { get; init; }

    public long? Seed { get; init; }
}
