using System.Text.Json.Serialization;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>
/// What the cache knows about one stored artifact; also its <c>meta.json</c> beside the data. <see cref="Sha256"/> and
/// <see cref="Size"/> are checked when the artifact is read.
/// </summary>
public sealed record ArtifactInfo
{
    [JsonPropertyName("version")] public int Version { get; init; } = 1;

    [JsonPropertyName("key")] public required string Key { get; init; }

    [JsonPropertyName("kind")] public required string Kind { get; init; }

    /// <summary>Size of the data in bytes.</summary>
    [JsonPropertyName("size")] public required long Size { get; init; }

    /// <summary>SHA-256 of the data, 64 lowercase hex digits.</summary>
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }

    [JsonPropertyName("created")] public required DateTimeOffset Created { get; init; }

    [JsonPropertyName("lastUsed")] public required DateTimeOffset LastUsed { get; init; }
}

/// <summary>A stored artifact found damaged (wrong size, wrong hash, missing or unreadable metadata) and removed.</summary>
public sealed record ArtifactCorruption(string Key, string Reason);

/// <summary>Settings of an <see cref="ArtifactCache"/>.</summary>
public sealed record ArtifactCacheOptions
{
    /// <summary>Total size of stored data above which least-recently-used artifacts are evicted (default 20 GiB).</summary>
    public long MaxTotalBytes { get; init; } = 20L << 30;

    /// <summary>Re-hash the data on every read (default). When false only the size is checked.</summary>
    public bool VerifyHashOnRead { get; init; } = true;

    /// <summary>Source of "now" for created and last-used times (tests pass a fake).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Called for each damaged artifact that is found and removed.</summary>
    public Action<ArtifactCorruption>? OnCorrupted { get; init; }

    public void Validate() => ArgumentOutOfRangeException.ThrowIfNegative(MaxTotalBytes);
}

/// <summary>
/// A read lease on a stored artifact: while it is held the artifact is neither evicted nor deleted, and
/// <see cref="Path"/> stays valid. Dispose it when done reading.
/// </summary>
public sealed class ArtifactLease : IDisposable, IAsyncDisposable
{
    private readonly Action _release;
    private int _released;

    internal ArtifactLease(ArtifactKey key, ArtifactInfo info, string path, Action release)
    {
        Key = key;
        Info = info;
        Path = path;
        _release = release;
    }

    public ArtifactKey Key { get; }

    public ArtifactInfo Info { get; }

    /// <summary>Full path of the data file (read-only use).</summary>
    public string Path { get; }

    /// <summary>Opens the data for reading (asynchronous, sequential).</summary>
    public FileStream OpenRead()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
        return new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _release();
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
