using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Jobs;

/// <summary>A clock the tests move by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A job store in a fresh temp folder, deleted afterwards; <see cref="ReopenAsync"/> closes and reopens the file.</summary>
internal sealed class JobStoreTestBed : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("videolong-jobs-").FullName;

    private JobStoreTestBed(ManualClock clock, TimeSpan stepLease)
    {
        Clock = clock;
        Options = new SqliteJobStoreOptions { TimeProvider = clock, StepLease = stepLease, BusyTimeout = TimeSpan.FromSeconds(10) };
    }

    public ManualClock Clock { get; }

    public SqliteJobStoreOptions Options { get; }

    public string DatabasePath => Path.Combine(_folder, "jobs.db");

    public SqliteJobStore Store { get; private set; } = null!;

    public static CancellationToken Ct => CancellationToken.None;

    public static async Task<JobStoreTestBed> CreateAsync(TimeSpan? stepLease = null)
    {
        var bed = new JobStoreTestBed(new ManualClock(new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero)), stepLease ?? TimeSpan.FromMinutes(10));
        bed.Store = await SqliteJobStore.OpenAsync(bed.DatabasePath, bed.Options, Ct);
        return bed;
    }

    public async Task ReopenAsync()
    {
        Store.Dispose();
        Store = await SqliteJobStore.OpenAsync(DatabasePath, Options, Ct);
    }

    public void Dispose()
    {
        Store.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
