namespace VideoLong.Pipeline.Jobs;

/// <summary>
/// Where a job stands. The happy path is Queued → Preparing → Encoding → Answering → Succeeded; any state that is not
/// terminal may move to Faulted or Cancelled. Succeeded, Faulted and Cancelled are terminal.
/// </summary>
public enum JobState
{
    Queued,
    Preparing,
    Encoding,
    Answering,
    Succeeded,
    Faulted,
    Cancelled,
}
