using MassTransit;

namespace VideoLong.Pipeline.Bus;

/// <summary>Request and response to a stage that survives a lost request or response: a timed-out request is sent again.</summary>
public static class StageRequests
{
    /// <summary>
    /// Sends <paramref name="message"/> and waits up to <paramref name="timeout"/> for the response; on a timeout (the
    /// request or its response was lost, e.g. with the process that ran it) sends it again, up to
    /// <paramref name="retries"/> more times. Safe because every stage runs through the step ledger: a repeated request
    /// waits for the running attempt, takes over a dead one's step after its lease, or returns the stored result.
    /// Faults of the stage are not retried here (the stage's own retry policy has run).
    /// </summary>
    public static async Task<Response<TResponse>> GetStageResponse<TRequest, TResponse>(this IRequestClient<TRequest> client, TRequest message,
        RequestTimeout timeout, int retries, CancellationToken cancellationToken)
        where TRequest : class
        where TResponse : class
    {
        ArgumentNullException.ThrowIfNull(client);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await client.GetResponse<TResponse>(message, cancellationToken, timeout).ConfigureAwait(false);
            }
            catch (RequestTimeoutException) when (attempt < retries && !cancellationToken.IsCancellationRequested)
            {
            }
        }
    }
}
