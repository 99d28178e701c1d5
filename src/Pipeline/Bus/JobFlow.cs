using MassTransit;
using VideoLong.Contracts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>The job was cancelled (its flag is set) while a stage ran; the stage stops between units of work.</summary>
public sealed class JobCancellationRequestedException(JobId jobId)
    : VideoLongException($"Job {jobId.Value} was cancelled.");

/// <summary>
/// What the caption and analysis orchestrators share with <see cref="AnswerQuestionConsumer"/>: forward-only state
/// moves that stop on a cancellation request, progress events, and the end of a job as Cancelled or Faulted.
/// </summary>
internal static class JobFlow
{
    /// <summary>Moves the job forward to <paramref name="to"/> (through the states in between); throws <see cref="JobCancelledSignal"/> when it was cancelled.</summary>
    public static async Task AdvanceAsync(IJobStore store, JobId jobId, JobState to, CancellationToken cancellationToken)
    {
        JobRecord job = await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (job.State is JobState.Cancelled || await store.IsCancellationRequestedAsync(jobId, cancellationToken).ConfigureAwait(false))
        {
            if (!job.State.IsTerminal())
            {
                await store.TransitionAsync(jobId, JobState.Cancelled, cancellationToken).ConfigureAwait(false);
            }

            throw new JobCancelledSignal();
        }

        for (JobState state = job.State + 1; job.State < to && state <= to; state++)
        {
            await store.TransitionAsync(jobId, state, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Throws <see cref="JobCancellationRequestedException"/> when the job's cancellation flag is set.</summary>
    public static async Task ThrowIfCancelledAsync(IJobStore store, JobId jobId, CancellationToken cancellationToken)
    {
        if (await store.IsCancellationRequestedAsync(jobId, cancellationToken).ConfigureAwait(false))
        {
            throw new JobCancellationRequestedException(jobId);
        }
    }

    /// <summary>Stores and publishes a stage's progress.</summary>
    public static async Task ProgressAsync(IJobStore store, IPublishEndpoint bus, JobId jobId, JobStage stage, long done, long total, CancellationToken cancellationToken)
    {
        await store.ReportProgressAsync(jobId, stage, done, total, cancellationToken).ConfigureAwait(false);
        await bus.Publish(new JobProgressed { JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage, Done = done, Total = total }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends a job whose flow threw: as Cancelled (JobCancelled) when it was cancelled — a stage stopped by a cancellation
    /// request fails, and that failure is the cancellation — otherwise as Faulted (JobFaulted) with the stage's own exception.
    /// </summary>
    /// <returns>The error when the job faulted; null when it was cancelled.</returns>
    public static async Task<JobError?> EndAsync(IJobStore store, IPublishEndpoint bus, JobId jobId, JobStage stage, Exception e)
    {
        CancellationToken none = CancellationToken.None;
        if (e is JobCancelledSignal or JobCancellationRequestedException || await store.IsCancellationRequestedAsync(jobId, none).ConfigureAwait(false)
            || (await store.GetAsync(jobId, none).ConfigureAwait(false)).State is JobState.Cancelled)
        {
            if (!(await store.GetAsync(jobId, none).ConfigureAwait(false)).State.IsTerminal())
            {
                try
                {
                    await store.TransitionAsync(jobId, JobState.Cancelled, none).ConfigureAwait(false);
                }
                catch (InvalidJobTransitionException)
                {
                    // It ended meanwhile: its own end stands.
                }
            }

            await bus.Publish(new JobCancelled { JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage }, none).ConfigureAwait(false);
            return null;
        }

        (string message, string type) = Describe(e);
        var error = new JobError(stage, message, type);
        if (!(await store.GetAsync(jobId, none).ConfigureAwait(false)).State.IsTerminal())
        {
            await store.FaultAsync(jobId, error, none).ConfigureAwait(false);
        }

        await bus.Publish(new JobFaulted { JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Stage = stage, ErrorMessage = message, ExceptionType = type }, none).ConfigureAwait(false);
        return error;
    }

    // A stage's fault comes back as RequestFaultException: report the stage's own exception, not the wrapper.
    private static (string Message, string Type) Describe(Exception e) => e is RequestFaultException { Fault: { } fault } && fault.Exceptions.Length > 0
        ? (fault.Exceptions[0].Message, fault.Exceptions[0].ExceptionType)
        : (e.Message, e.GetType().FullName ?? e.GetType().Name);

    public static bool IsEnded(JobRecord job) => job.State.IsTerminal();
}
