namespace VideoLong.Contracts;

/// <summary>The correlation id of a job: every message about one request carries the same value.</summary>
public readonly record struct JobId(Guid Value);
