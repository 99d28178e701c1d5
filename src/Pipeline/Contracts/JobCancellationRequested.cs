namespace VideoLong.Contracts;

/// <summary>
/// Event, fanned out to every process: the owner asked to cancel the job. Each process stops the stage of that job it is
/// running (decode loop, encode chunks, token generation); the job store's cancellation flag is the durable record.
/// </summary>
public sealed record JobCancellationRequested
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;
}
