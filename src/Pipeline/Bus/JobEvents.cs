using System.Collections.Concurrent;
using MassTransit;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// In-process observers of job events (progress, answer, fault): the CLI's progress bar and its wait for the end of a
/// job. Fed by <see cref="JobEventsConsumer"/>.
/// </summary>
public sealed class JobEvents
{
    private readonly ConcurrentDictionary<JobId, TaskCompletionSource<object>> _endings = new();

    /// <summary>Raised for every JobProgressed on the bus.</summary>
    public event Action<JobProgressed>? Progressed;

    /// <summary>Raised for every AnswerTokensGenerated on the bus (in arrival order; <see cref="AnswerTokenSequencer"/> restores the order).</summary>
    public event Action<AnswerTokensGenerated>? TokensGenerated;

    /// <summary>Completes with the job's ending event: AnswerGenerated, CaptionsGenerated, ImageAnalyzed, JobFaulted or JobCancelled.</summary>
    public async Task<object> WhenEndedAsync(JobId jobId, CancellationToken cancellationToken)
    {
        try
        {
            return await Ending(jobId).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _endings.TryRemove(jobId, out _);
        }
    }

    internal void OnProgressed(JobProgressed progressed) => Progressed?.Invoke(progressed);

    internal void OnTokensGenerated(AnswerTokensGenerated piece) => TokensGenerated?.Invoke(piece);

    internal void OnEnded(JobId jobId, object ending) => Ending(jobId).TrySetResult(ending);

    private TaskCompletionSource<object> Ending(JobId jobId) =>
        _endings.GetOrAdd(jobId, _ => new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously));
}

/// <summary>Forwards job events from the bus to <see cref="JobEvents"/>.</summary>
public sealed class JobEventsConsumer(JobEvents events) : IConsumer<JobProgressed>, IConsumer<AnswerGenerated>, IConsumer<JobFaulted>,
    IConsumer<AnswerTokensGenerated>, IConsumer<CaptionsGenerated>, IConsumer<ImageAnalyzed>, IConsumer<JobCancelled>
{
    public Task Consume(ConsumeContext<AnswerTokensGenerated> context)
    {
        events.OnTokensGenerated(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobProgressed> context)
    {
        events.OnProgressed(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<AnswerGenerated> context)
    {
        events.OnEnded(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobFaulted> context)
    {
        events.OnEnded(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<CaptionsGenerated> context)
    {
        events.OnEnded(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<ImageAnalyzed> context)
    {
        events.OnEnded(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobCancelled> context)
    {
        events.OnEnded(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }
}
