using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong jobs [ID]</c>: the SQLite job store under the data folder, read directly (no bus): recent jobs with
/// kind, state, progress, creation time and duration; or one job with the time spent in each state, its result and
/// its error.
/// </summary>
internal static class JobsCommand
{
    public static Command Create(CliContext cli)
    {
        var id = new Argument<string?>("ID") { Description = "A job id: show that job in full.", Arity = ArgumentArity.ZeroOrOne };
        var data = new Option<string?>("--data") { Description = "Data folder holding jobs.db (default ~/.videolong)." };
        var limit = new Option<int>("--limit") { Description = "Most jobs listed, newest first.", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "Write the jobs as JSON." };
        var command = new Command("jobs", "List recent jobs from the job store, or show one job's states, timings, result and error.") { id, data, limit, json };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string folder = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory);
            string db = Path.Combine(folder, "jobs.db");
            if (!File.Exists(db))
            {
                throw new VideoLongException($"No job store at '{db}': no job has run with --data '{folder}'.");
            }

            int count = parse.GetValue(limit);
            if (count is < 1 or > JobListQuery.MaxLimit)
            {
                throw new VideoLongException($"Invalid --limit {count}: must be 1 to {JobListQuery.MaxLimit}.");
            }

            using SqliteJobStore store = await SqliteJobStore.OpenAsync(db, null, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(id) is { } text)
            {
                if (!Guid.TryParse(text, out Guid guid))
                {
                    throw new VideoLongException($"Invalid job id '{text}': expected a GUID as printed by 'videolong jobs'.");
                }

                await ShowAsync(cli, store, new JobId(guid), parse.GetValue(json), cancellationToken).ConfigureAwait(false);
                return VideoLongCli.ExitOk;
            }

            IReadOnlyList<JobRecord> jobs = await store.ListAsync(new JobListQuery { Limit = count }, cancellationToken).ConfigureAwait(false);
            var rows = new List<JobRow>(jobs.Count);
            foreach (JobRecord job in jobs)
            {
                IReadOnlyList<StageTiming> timings = await store.GetTimingsAsync(job.Id, cancellationToken).ConfigureAwait(false);
                rows.Add(new JobRow(job.Id.Value, job.Kind, job.State, job.Progress, job.CreatedAt, Duration(job, timings)?.TotalSeconds));
            }

            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(rows).ConfigureAwait(false);
                return VideoLongCli.ExitOk;
            }

            await cli.Out.WriteLineAsync($"{"ID",-36}  {"KIND",-14}  {"STATE",-10}  {"PROGRESS",-16}  {"CREATED (UTC)",-19}  DURATION").ConfigureAwait(false);
            foreach (JobRow row in rows)
            {
                string progress = row.Progress is { } p ? $"{p.Stage.ToString().ToLowerInvariant()} {p.Done}/{p.Total}" : "-";
                await cli.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{row.Id,-36}  {row.Kind,-14}  {row.State,-10}  {progress,-16}  {row.Created.UtcDateTime:yyyy-MM-dd HH:mm:ss}  {Seconds(row.Seconds)}")).ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static async Task ShowAsync(CliContext cli, SqliteJobStore store, JobId jobId, bool json, CancellationToken cancellationToken)
    {
        JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<StageTiming> timings = await store.GetTimingsAsync(jobId, cancellationToken).ConfigureAwait(false);
        JsonElement? result = job.ResultJson is { } r ? JsonSerializer.Deserialize<JsonElement>(r) : null;
        if (json)
        {
            await cli.WriteJsonAsync(new
            {
                id = job.Id.Value, job.Kind, job.State, job.Owner, job.Progress, job.CancellationRequested, createdAt = job.CreatedAt, updatedAt = job.UpdatedAt,
                timings = timings.Select(t => new { t.State, t.StartedAt, t.EndedAt, seconds = t.Duration?.TotalSeconds }),
                request = JsonSerializer.Deserialize<JsonElement>(job.RequestJson), result, job.Error,
            }).ConfigureAwait(false);
            return;
        }

        await cli.Out.WriteLineAsync($"job      {job.Id.Value}").ConfigureAwait(false);
        await cli.Out.WriteLineAsync($"kind     {job.Kind}").ConfigureAwait(false);
        await cli.Out.WriteLineAsync($"state    {job.State}{(job.CancellationRequested ? " (cancellation requested)" : "")}").ConfigureAwait(false);
        await cli.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"created  {job.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC")).ConfigureAwait(false);
        if (job.Progress is { } p)
        {
            await cli.Out.WriteLineAsync($"progress {p.Stage.ToString().ToLowerInvariant()} {p.Done}/{p.Total}").ConfigureAwait(false);
        }

        await cli.Out.WriteLineAsync("states:").ConfigureAwait(false);
        foreach (StageTiming t in timings)
        {
            await cli.Out.WriteLineAsync($"  {t.State,-10} {Seconds(t.Duration?.TotalSeconds),10}{(t.EndedAt is null ? " (current)" : "")}").ConfigureAwait(false);
        }

        if (job.Error is { } error)
        {
            await cli.Out.WriteLineAsync($"error    {error.Stage}: {error.Message} ({error.ExceptionType})").ConfigureAwait(false);
        }

        if (result is { } value)
        {
            await cli.Out.WriteLineAsync("result:").ConfigureAwait(false);
            await cli.Out.WriteLineAsync(JsonSerializer.Serialize(value, CliContext.Json)).ConfigureAwait(false);
        }
    }

    // From creation to the end of the last closed state (or to now while the job runs).
    private static TimeSpan? Duration(JobRecord job, IReadOnlyList<StageTiming> timings)
    {
        if (timings.Count == 0)
        {
            return null;
        }

        DateTimeOffset end = job.State.IsTerminal() ? timings.Max(t => t.EndedAt ?? job.UpdatedAt) : DateTimeOffset.UtcNow;
        return end - timings[0].StartedAt;
    }

    private static string Seconds(double? s) => s is { } v ? v.ToString("0.000", CultureInfo.InvariantCulture) + " s" : "-";

    private sealed record JobRow(Guid Id, string Kind, JobState State, JobProgress? Progress, DateTimeOffset Created, double? Seconds);
}
