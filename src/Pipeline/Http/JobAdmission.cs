using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Http;

/// <summary>The per-key limit on jobs queued or running, shared by questions, captions, analyses and NIAH runs.</summary>
internal static class JobAdmission
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly SemaphoreSlim Admission = new(1, 1);   // the per-key count and the job it admits, one at a time

    /// <summary>
    /// Creates the job and publishes its command, unless the caller (API key) already has as many jobs queued or running
    /// as allowed (429). One admission at a time for every kind of job, so that no two requests both pass the count.
    /// </summary>
    public static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> SubmitAsync<T>(string kind, T request, Func<JobId, T> withJobId, HttpContext http,
        IJobStore store, IPublishEndpoint bus, HttpApiOptions options, CancellationToken cancellationToken)
        where T : class
    {
        string? caller = ApiKeyMiddleware.CallerOf(http);
        JobId jobId;
        await Admission.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IReadOnlyList<JobRecord> recent = await store.ListAsync(new JobListQuery { Owner = caller, Limit = JobListQuery.MaxLimit }, cancellationToken).ConfigureAwait(false);
            if (recent.Count(j => !j.State.IsTerminal()) >= options.MaxConcurrentJobsPerKey)
            {
                return ApiProblems.Problem(StatusCodes.Status429TooManyRequests, "Too many jobs.",
                    $"At most {options.MaxConcurrentJobsPerKey} jobs may be queued or running at once per API key; wait for one to end or cancel one.");
            }

            jobId = await store.CreateAsync(kind, JsonSerializer.Serialize(request, Json), caller, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Admission.Release();
        }

        await bus.Publish(withJobId(jobId), cancellationToken).ConfigureAwait(false);
        JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
        return TypedResults.Accepted($"/jobs/{jobId.Value}", JobView.Of(job));
    }
}
