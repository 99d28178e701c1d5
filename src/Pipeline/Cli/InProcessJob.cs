using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// Runs one job through the in-process pipeline as <c>ask</c> does: the job is created in the store under the data
/// folder, its command published on the in-memory bus, progress drawn from JobProgressed, and the ending event awaited.
/// A fault becomes one line on stderr (exit 2); so does a cancellation.
/// </summary>
internal static class InProcessJob
{
    public static async Task<JobRecord> RunAsync<T>(CliContext cli, PipelineOptions options, string kind, T command, Func<T, JobId, T> withJobId, CancellationToken cancellationToken)
        where T : class
    {
        await using ServiceProvider services = new ServiceCollection().AddVideoLongPipeline(options).BuildServiceProvider();
        IBusControl bus = services.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IJobStore store = services.GetRequiredService<IJobStore>();
            JobId jobId = await store.CreateAsync(kind, System.Text.Json.JsonSerializer.Serialize(command), Environment.UserName, cancellationToken).ConfigureAwait(false);
            JobEvents events = services.GetRequiredService<JobEvents>();
            var progress = new JobProgressBars(cli, jobId);
            events.Progressed += progress.Report;
            object ending;
            try
            {
                Task<object> ended = events.WhenEndedAsync(jobId, cancellationToken);
                await bus.Publish(withJobId(command, jobId), cancellationToken).ConfigureAwait(false);
                ending = await ended.ConfigureAwait(false);
            }
            finally
            {
                events.Progressed -= progress.Report;
                progress.Finish();
            }

            switch (ending)
            {
                case JobFaulted faulted:
                    throw new VideoLongException($"{faulted.Stage} failed: {faulted.ErrorMessage}");
                case JobCancelled:
                    throw new VideoLongException($"Job {jobId.Value} was cancelled.");
            }

            return await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Checks that <paramref name="model"/> is a checkpoint folder; returns its full path.</summary>
    public static string ModelFolder(string model)
    {
        string dir = Path.GetFullPath(model);
        return File.Exists(Path.Combine(dir, "config.json")) ? dir : throw new VideoLongException($"--model '{model}' is not a checkpoint folder (no config.json).");
    }

    /// <summary>One progress bar per stage, drawn from the job's JobProgressed events.</summary>
    private sealed class JobProgressBars(CliContext cli, JobId jobId)
    {
        private readonly Lock _lock = new();
        private JobStage? _stage;
        private ProgressBar? _bar;

        public void Report(JobProgressed progressed)
        {
            if (progressed.JobId != jobId)
            {
                return;
            }

            lock (_lock)
            {
                if (_stage != progressed.Stage)
                {
                    _bar?.Finish();
                    _stage = progressed.Stage;
                    _bar = cli.Progress(progressed.Stage switch { JobStage.Answer => "generate", _ => progressed.Stage.ToString().ToLowerInvariant() });
                }

                _bar!.Report(((int)progressed.Done, (int)Math.Max(progressed.Total, 1)));
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                _bar?.Finish();
            }
        }
    }
}
