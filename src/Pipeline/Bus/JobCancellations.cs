using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Logging;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>A stage stopped because its job was cancelled; not retried, and the orchestrator ends the job as Cancelled.</summary>
public sealed class StageCancelledException(JobId jobId, JobStage stage, Exception? inner = null)
    : VideoLongException($"Job {jobId.Value} was cancelled; stage {stage} stopped.", inner);

/// <summary>
/// The per-process registry of running stages by job: <see cref="Cancel"/> (fed by <see cref="JobCancellationConsumer"/>,
/// which every process receives) cancels the token of every stage of that job in this process; each stage also reads the
/// job store's cancellation flag when it starts and then every <see cref="PipelineOptions.CancellationPollInterval"/>, so a
/// missed event still stops it.
/// </summary>
public sealed class JobCancellations(IJobStore store, PipelineOptions options)
{
    private readonly ConcurrentDictionary<JobId, ConcurrentDictionary<Scope, byte>> _running = new();

    /// <summary>Runs <paramref name="work"/> with a token that the job's cancellation (or <paramref name="cancellationToken"/>) cancels.</summary>
    /// <exception cref="StageCancelledException">The job was cancelled while the stage ran.</exception>
    public async Task<T> RunAsync<T>(JobId jobId, JobStage stage, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using Scope scope = await BeginAsync(jobId, cancellationToken).ConfigureAwait(false);
        try
        {
            scope.Token.ThrowIfCancellationRequested();
            return await work(scope.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (scope.CancelledByJob)
        {
            throw new StageCancelledException(jobId, stage, e);
        }
    }

    /// <summary>Starts watching <paramref name="jobId"/> for the running stage; dispose the scope when the stage ends.</summary>
    public async Task<Scope> BeginAsync(JobId jobId, CancellationToken cancellationToken)
    {
        var scope = new Scope(this, jobId, cancellationToken);
        _running.GetOrAdd(jobId, _ => new ConcurrentDictionary<Scope, byte>()).TryAdd(scope, 0);
        try
        {
            if (await store.IsCancellationRequestedAsync(jobId, cancellationToken).ConfigureAwait(false))
            {
                scope.CancelByJob();
            }
        }
        catch
        {
            await scope.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        scope.StartPolling(store, options.CancellationPollInterval);
        return scope;
    }

    /// <summary>Cancels every running stage of the job in this process; returns how many there were.</summary>
    public int Cancel(JobId jobId)
    {
        if (!_running.TryGetValue(jobId, out ConcurrentDictionary<Scope, byte>? scopes))
        {
            return 0;
        }

        int count = 0;
        foreach (Scope scope in scopes.Keys)
        {
            scope.CancelByJob();
            count++;
        }

        return count;
    }

    /// <summary>Stages of <paramref name="jobId"/> running in this process.</summary>
    public int RunningCount(JobId jobId) => _running.TryGetValue(jobId, out ConcurrentDictionary<Scope, byte>? scopes) ? scopes.Count : 0;

    private void Remove(Scope scope)
    {
        if (_running.TryGetValue(scope.JobId, out ConcurrentDictionary<Scope, byte>? scopes))
        {
            scopes.TryRemove(scope, out _);
            if (scopes.IsEmpty)
            {
                _running.TryRemove(new KeyValuePair<JobId, ConcurrentDictionary<Scope, byte>>(scope.JobId, scopes));
            }
        }
    }

    /// <summary>One running stage of a job: a token linked to the host's and cancelled by the job's cancellation.</summary>
    public sealed class Scope : IAsyncDisposable
    {
        private readonly JobCancellations _owner;
        private readonly CancellationTokenSource _job;
        private readonly CancellationTokenSource _linked;
        private Task? _polling;

        internal Scope(JobCancellations owner, JobId jobId, CancellationToken outer)
        {
            _owner = owner;
            JobId = jobId;
            _job = new CancellationTokenSource();
            _linked = CancellationTokenSource.CreateLinkedTokenSource(outer, _job.Token);
        }

        public JobId JobId { get; }

        /// <summary>Cancelled by the job's cancellation or by the host.</summary>
        public CancellationToken Token => _linked.Token;

        /// <summary>True once the job's cancellation (not the host) cancelled the token.</summary>
        public bool CancelledByJob => _job.IsCancellationRequested;

        internal void CancelByJob()
        {
            try
            {
                _job.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The stage ended meanwhile.
            }
        }

        internal void StartPolling(IJobStore store, TimeSpan interval) => _polling = PollAsync(store, interval);

        public async ValueTask DisposeAsync()
        {
            _owner.Remove(this);
            await _linked.CancelAsync().ConfigureAwait(false);   // ends the poll loop
            if (_polling is not null)
            {
                await _polling.ConfigureAwait(false);
            }

            _linked.Dispose();
            _job.Dispose();
        }

        private async Task PollAsync(IJobStore store, TimeSpan interval)
        {
            using var timer = new PeriodicTimer(interval);
            try
            {
                while (await timer.WaitForNextTickAsync(_linked.Token).ConfigureAwait(false))
                {
                    if (await store.IsCancellationRequestedAsync(JobId, _linked.Token).ConfigureAwait(false))
                    {
                        CancelByJob();
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The store is unreachable: the fan-out event still cancels; the stage itself will see the store fail.
            }
        }
    }
}

/// <summary>
/// Receives every <see cref="JobCancellationRequested"/> in every process (a temporary endpoint per instance) and
/// cancels the job's running stages here.
/// </summary>
public sealed partial class JobCancellationConsumer(JobCancellations cancellations, ILogger<JobCancellationConsumer> logger) : IConsumer<JobCancellationRequested>
{
    public Task Consume(ConsumeContext<JobCancellationRequested> context)
    {
        int stopped = cancellations.Cancel(context.Message.JobId);
        LogCancellation(logger, context.Message.JobId.Value, stopped);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: cancellation requested; {Stages} running stage(s) in this process cancelled")]
    private static partial void LogCancellation(ILogger logger, Guid jobId, int stages);
}

/// <summary>A temporary endpoint per process (fan-out): every instance gets each cancellation request.</summary>
public sealed class JobCancellationConsumerDefinition : ConsumerDefinition<JobCancellationConsumer>
{
    public JobCancellationConsumerDefinition() => Endpoint(e => e.Temporary = true);
}

/// <summary>Cancels a job: sets the store's flag, moves a job that has not ended to Cancelled and tells every process to stop its running stage.</summary>
public sealed class JobCanceller(IJobStore store, IBus bus)
{
    /// <returns>False when the job had already ended (nothing changed).</returns>
    public async Task<bool> CancelAsync(JobId jobId, CancellationToken cancellationToken)
    {
        if (!await store.RequestCancellationAsync(jobId, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        try
        {
            await store.TransitionAsync(jobId, JobState.Cancelled, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidJobTransitionException)
        {
            // It ended between the flag and the move: its own end stands.
        }

        await bus.Publish(new JobCancellationRequested { JobId = jobId, Timestamp = DateTimeOffset.UtcNow }, cancellationToken).ConfigureAwait(false);
        return true;
    }
}
