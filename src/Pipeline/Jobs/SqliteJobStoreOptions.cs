namespace VideoLong.Pipeline.Jobs;

/// <summary>Runtime knobs of <see cref="SqliteJobStore"/>.</summary>
public sealed class SqliteJobStoreOptions
{
    /// <summary>How long a writer waits for another process's or thread's lock before failing (SQLite busy timeout).</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a begun step is held before another attempt may take it over (a worker killed mid-step never completes
    /// or abandons it). Each progress report for the step's stage renews the lease.
    /// </summary>
    public TimeSpan StepLease { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Clock for timestamps, timings and leases; tests substitute their own.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
