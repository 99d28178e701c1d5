using System.Text.Json;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>
/// Content-addressed artifacts (sampled frames, visual tokens) in a local folder, so that a second question about the
/// same video skips decoding and encoding.
/// </summary>
/// <remarks>
/// <para>Layout: <c>ROOT/objects/ab/abcd…(64 hex)/{data, meta.json}</c> and <c>ROOT/tmp/</c>. Paths come only from the
/// validated hex key. A put writes data and metadata into a fresh folder under <c>tmp/</c>, flushes them to disk and
/// renames the folder into place in one step: a crash never leaves a half-written artifact visible, and when two writers
/// (tasks or processes) race on one key the first rename wins and the other writer's copy is discarded.</para>
/// <para>Reads take a lease (<see cref="ArtifactLease"/>): leased artifacts are never evicted or deleted. Each read
/// checks size and SHA-256 against the metadata; a damaged artifact is reported (<see cref="ArtifactCacheOptions.OnCorrupted"/>),
/// removed and treated as absent. When the data exceed <see cref="ArtifactCacheOptions.MaxTotalBytes"/> the least recently
/// used artifacts that are not leased are evicted (sparing the one just put, so the total may exceed the limit while
/// leases are held; it catches up when they are released). On open the index is rebuilt from the folder and leftovers of interrupted writes are deleted.</para>
/// <para>Safe for concurrent use by many tasks of one process. Several processes (serve and workers on one machine) may
/// share a folder for writing and reading: puts are atomic renames, a process adopts artifacts others published, and
/// opening the cache cleans up only leftovers of processes that are gone (staging folders name their process). A lease holds a shared file lock on the data, and
/// eviction skips artifacts another process holds that way.</para>
/// </remarks>
public sealed class ArtifactCache
{
    private const string ObjectsFolder = "objects";
    private const string TempFolder = "tmp";
    private const string DataFile = "data";
    private const string MetadataFile = "meta.json";
    private const int MaxMetadataBytes = 64 << 10;

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    private readonly Lock _gate = new();
    private readonly Dictionary<ArtifactKey, Entry> _entries = [];
    private readonly ArtifactCacheOptions _options;
    private readonly string _objects;
    private readonly string _temp;
    private long _totalBytes;
    private long _useSequence;

    private ArtifactCache(string root, ArtifactCacheOptions options)
    {
        Root = root;
        _options = options;
        _objects = Path.Combine(root, ObjectsFolder);
        _temp = Path.Combine(root, TempFolder);
    }

    /// <summary>The cache folder (full path).</summary>
    public string Root { get; }

    /// <summary>Bytes of data stored (metadata not counted).</summary>
    public long TotalBytes
    {
        get
        {
            lock (_gate)
            {
                return _totalBytes;
            }
        }
    }

    /// <summary>Number of artifacts in the index.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Opens (creating if needed) the cache in <paramref name="root"/>, rebuilds the index and evicts down to the limit.</summary>
    public static async Task<ArtifactCache> OpenAsync(string root, ArtifactCacheOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        options ??= new ArtifactCacheOptions();
        options.Validate();
        var cache = new ArtifactCache(Path.GetFullPath(root), options);
        await Task.Run(cache.Rebuild, cancellationToken);
        await cache.EvictAsync(cancellationToken);
        return cache;
    }

    /// <summary>Stores the bytes of <paramref name="content"/> (from its current position) under <paramref name="key"/>.</summary>
    public Task<ArtifactInfo> PutAsync(ArtifactKey key, string kind, Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        return PutAsync(key, kind, (destination, ct) => content.CopyToAsync(destination, ct), cancellationToken);
    }

    /// <summary>
    /// Stores what <paramref name="write"/> writes under <paramref name="key"/>. When the key is already stored the callback
    /// is not called and the stored artifact's information is returned (its last use refreshed). When the callback throws
    /// or is cancelled nothing is stored.
    /// </summary>
    public async Task<ArtifactInfo> PutAsync(ArtifactKey key, string kind, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        CheckKey(key);
        ArtifactKinds.Validate(kind);
        ArgumentNullException.ThrowIfNull(write);

        if (Find(key) is { } existing)
        {
            return Touch(existing);
        }

        cancellationToken.ThrowIfCancellationRequested();

        Directory.CreateDirectory(_temp);
        string staging = Path.Combine(_temp, $"{key.Hex}.{OwnerTag}.{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            string data = Path.Combine(staging, DataFile);
            await using (var stream = new FileStream(data, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await write(stream, cancellationToken);
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            cancellationToken.ThrowIfCancellationRequested();
            string sha256;
            long size;
            await using (var stream = new FileStream(data, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                size = stream.Length;
                sha256 = await ContentHash.OfStreamAsync(stream, null, cancellationToken);
            }

            DateTimeOffset now = _options.TimeProvider.GetUtcNow();
            var info = new ArtifactInfo { Key = key.Hex, Kind = kind, Size = size, Sha256 = sha256, Created = now, LastUsed = now };
            WriteMetadata(Path.Combine(staging, MetadataFile), info);

            Entry stored = Publish(key, staging, info);
            ArtifactInfo result = stored.Info == info ? info : Touch(stored);
            Evict(keep: key);
            return result;
        }
        finally
        {
            DeleteQuietly(staging);
        }
    }

    /// <summary>
    /// A lease on the artifact stored under <paramref name="key"/>, or null when there is none (or it was found damaged and
    /// removed). Refreshes its last use.
    /// </summary>
    public async Task<ArtifactLease?> TryGetAsync(ArtifactKey key, CancellationToken cancellationToken)
    {
        CheckKey(key);
        Entry? entry;
        lock (_gate)
        {
            entry = FindLocked(key);
            if (entry is null)
            {
                return null;
            }

            entry.Leases++;
        }

        string? damage;
        FileStream? pin = null;
        try
        {
            pin = await PinAsync(entry, cancellationToken);
            damage = await VerifyAsync(entry, cancellationToken);
        }
        catch
        {
            pin?.Dispose();
            Release(entry);
            throw;
        }

        if (damage is not null)
        {
            pin?.Dispose();
            Condemn(entry, damage);
            return null;
        }

        ArtifactInfo info = Touch(entry);
        return new ArtifactLease(key, info, Path.Combine(entry.Folder, DataFile), () =>
        {
            pin?.Dispose();
            Release(entry);
        });
    }

    // Leases across processes: a lease keeps the data file open with a shared lock (.NET takes flock LOCK_SH for
    // FileShare.Read on Unix), and eviction skips an artifact whose file it cannot open exclusively. An eviction probe
    // holds its exclusive lock for microseconds, so a reader that meets one tries again.
    private static async Task<FileStream?> PinAsync(Entry entry, CancellationToken cancellationToken)
    {
        string data = Path.Combine(entry.Folder, DataFile);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(data, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.None);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;                                            // VerifyAsync reports the missing file
            }
            catch (IOException) when (attempt < 20)
            {
                await Task.Delay(10, cancellationToken);
            }
        }
    }

    private static bool IsLeasedByAnotherProcess(Entry entry)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(entry.Folder, DataFile), FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.None);
            return false;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Whether <paramref name="key"/> is stored (without checking its content or refreshing its last use).</summary>
    public Task<bool> ContainsAsync(ArtifactKey key, CancellationToken cancellationToken)
    {
        CheckKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Find(key) is not null);
    }

    /// <summary>
    /// Removes the artifact under <paramref name="key"/>; false when there is none. An artifact that is leased disappears
    /// from lookups at once and is deleted when its last lease is released.
    /// </summary>
    public Task<bool> RemoveAsync(ArtifactKey key, CancellationToken cancellationToken)
    {
        CheckKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        string? trash;
        lock (_gate)
        {
            Entry? entry = FindLocked(key);
            if (entry is null)
            {
                return Task.FromResult(false);
            }

            trash = DoomLocked(entry);
        }

        DeleteQuietly(trash);
        return Task.FromResult(true);
    }

    /// <summary>Evicts least-recently-used artifacts that are not leased until the total is within the limit; returns how many.</summary>
    public Task<int> EvictAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Evict(keep: default));
    }

    /// <summary>Evicts down to the limit, sparing <paramref name="keep"/> (the artifact just put: its reader is usually next).</summary>
    private int Evict(ArtifactKey keep)
    {
        var trash = new List<string?>();
        lock (_gate)
        {
            if (_totalBytes > _options.MaxTotalBytes)
            {
                foreach (Entry entry in _entries.Values.Where(e => e.Leases == 0 && !e.Doomed && e.Key != keep).OrderBy(e => e.Info.LastUsed).ThenBy(e => e.Sequence).ToList())
                {
                    if (_totalBytes <= _options.MaxTotalBytes)
                    {
                        break;
                    }

                    if (IsLeasedByAnotherProcess(entry))
                    {
                        continue;
                    }

                    trash.Add(DoomLocked(entry));
                }
            }
        }

        trash.ForEach(DeleteQuietly);
        return trash.Count;
    }

    /// <summary>Information on every stored artifact, least recently used first.</summary>
    public IReadOnlyList<ArtifactInfo> Snapshot()
    {
        lock (_gate)
        {
            return _entries.Values.Where(e => !e.Doomed).OrderBy(e => e.Info.LastUsed).ThenBy(e => e.Sequence).Select(e => e.Info).ToList();
        }
    }

    private static void CheckKey(ArtifactKey key)
    {
        if (key.IsDefault)
        {
            throw new ArgumentException("The artifact key is default (empty); build one with ArtifactKeyBuilder or ArtifactKey.Parse.", nameof(key));
        }
    }

    private string FolderOf(ArtifactKey key) => Path.Combine(_objects, key.Hex[..2], key.Hex);

    private Entry? Find(ArtifactKey key)
    {
        lock (_gate)
        {
            return FindLocked(key);
        }
    }

    /// <summary>The live entry for a key; adopts one another process has published since the index was built.</summary>
    private Entry? FindLocked(ArtifactKey key)
    {
        if (_entries.TryGetValue(key, out Entry? entry))
        {
            return entry.Doomed ? null : entry;
        }

        string folder = FolderOf(key);
        return Directory.Exists(folder) ? AdoptLocked(key, folder) : null;
    }

    private Entry? AdoptLocked(ArtifactKey key, string folder)
    {
        string? problem = ReadFolder(key, folder, out ArtifactInfo? info);
        if (problem is not null)
        {
            Report(key, problem);
            DeleteQuietly(MoveToTrash(folder));
            return null;
        }

        var entry = new Entry(key, folder, info!) { Sequence = ++_useSequence };
        _entries[key] = entry;
        _totalBytes += info!.Size;
        return entry;
    }

    private Entry Publish(ArtifactKey key, string staging, ArtifactInfo info)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out Entry? existing))
            {
                if (!existing.Doomed)
                {
                    return existing;                                   // another task of this process won the race
                }

                throw new VideoLongException($"Artifact {key} is being removed while still leased; store it again after its readers finish.");
            }

            string folder = FolderOf(key);
            Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
            try
            {
                Directory.Move(staging, folder);
            }
            catch (IOException) when (Directory.Exists(folder))
            {
                // Another process published the same key first: its complete copy wins.
                return AdoptLocked(key, folder) ?? throw new VideoLongException($"Artifact {key} was published by another writer but is unreadable; it was removed, retry.");
            }

            var entry = new Entry(key, folder, info) { Sequence = ++_useSequence };
            _entries[key] = entry;
            _totalBytes += info.Size;
            return entry;
        }
    }

    private ArtifactInfo Touch(Entry entry)
    {
        ArtifactInfo info;
        lock (_gate)
        {
            DateTimeOffset now = _options.TimeProvider.GetUtcNow();
            info = entry.Info with { LastUsed = now > entry.Info.LastUsed ? now : entry.Info.LastUsed };
            entry.Info = info;
            entry.Sequence = ++_useSequence;
        }

        try
        {
            WriteMetadata(Path.Combine(entry.Folder, MetadataFile), info);     // best effort: last use survives restarts
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return info;
    }

    private void Release(Entry entry)
    {
        string? trash = null;
        lock (_gate)
        {
            entry.Leases--;
            if (entry.Leases == 0 && entry.Doomed)
            {
                trash = DeleteLocked(entry);
            }
        }

        DeleteQuietly(trash);
        Evict(keep: default);                                          // leased artifacts may have kept the total above the limit
    }

    private void Condemn(Entry entry, string reason)
    {
        Report(entry.Key, reason);
        string? trash;
        lock (_gate)
        {
            entry.Leases--;
            trash = DoomLocked(entry);
        }

        DeleteQuietly(trash);
    }

    /// <summary>Hides the entry; deletes it now when unleased (returns the folder to delete outside the lock), else at its last release.</summary>
    private string? DoomLocked(Entry entry)
    {
        entry.Doomed = true;
        return entry.Leases == 0 ? DeleteLocked(entry) : null;
    }

    private string? DeleteLocked(Entry entry)
    {
        if (_entries.TryGetValue(entry.Key, out Entry? current) && ReferenceEquals(current, entry))
        {
            _entries.Remove(entry.Key);
            _totalBytes -= entry.Info.Size;
        }

        return MoveToTrash(entry.Folder);
    }

    /// <summary>Renames a folder out of sight in one step (so no reader sees it half-deleted); null when it is gone already.</summary>
    private string? MoveToTrash(string folder)
    {
        try
        {
            Directory.CreateDirectory(_temp);
            string trash = Path.Combine(_temp, $"trash.{OwnerTag}.{Guid.NewGuid():N}");
            Directory.Move(folder, trash);
            return trash;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task<string?> VerifyAsync(Entry entry, CancellationToken cancellationToken)
    {
        string data = Path.Combine(entry.Folder, DataFile);
        try
        {
            await using var stream = new FileStream(data, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            if (stream.Length != entry.Info.Size)
            {
                return $"size is {stream.Length} bytes, metadata says {entry.Info.Size}";
            }

            if (_options.VerifyHashOnRead)
            {
                string sha256 = await ContentHash.OfStreamAsync(stream, null, cancellationToken);
                if (!string.Equals(sha256, entry.Info.Sha256, StringComparison.Ordinal))
                {
                    return $"SHA-256 is {sha256}, metadata says {entry.Info.Sha256}";
                }
            }

            return null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return "the data file is missing";
        }
    }

    // Staging and trash folders name the process that made them ("pPID"), so that a process opening a cache another
    // live process is writing to leaves that process's work in tmp/ alone.
    private static readonly string OwnerTag = $"p{Environment.ProcessId}";

    private static bool IsOwnedByLiveProcess(string name)
    {
        foreach (string part in name.Split('.'))
        {
            if (part.Length > 1 && part[0] == 'p' && int.TryParse(part.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid))
            {
                if (pid == Environment.ProcessId)
                {
                    return true;
                }

                try
                {
                    using var process = System.Diagnostics.Process.GetProcessById(pid);
                    return !process.HasExited;
                }
                catch (ArgumentException)
                {
                    return false;                                       // no such process
                }
            }
        }

        return false;                                                   // no owner recorded: an old leftover
    }

    private void Rebuild()
    {
        Directory.CreateDirectory(_objects);
        if (Directory.Exists(_temp))
        {
            foreach (FileSystemInfo leftover in new DirectoryInfo(_temp).EnumerateFileSystemInfos())
            {
                if (!IsOwnedByLiveProcess(leftover.Name))
                {
                    DeleteQuietly(leftover.FullName);                   // interrupted writes and deletions of processes that are gone
                }
            }
        }

        lock (_gate)
        {
            foreach (DirectoryInfo shard in new DirectoryInfo(_objects).EnumerateDirectories())
            {
                if (shard.LinkTarget is not null)
                {
                    continue;
                }

                foreach (DirectoryInfo folder in shard.EnumerateDirectories())
                {
                    if (folder.LinkTarget is not null || !ArtifactKey.TryParse(folder.Name, out ArtifactKey key) || key.Hex[..2] != shard.Name)
                    {
                        continue;                                       // not ours: left alone, never followed
                    }

                    foreach (FileInfo stale in folder.EnumerateFiles("*.tmp"))
                    {
                        DeleteQuietly(stale.FullName);
                    }

                    AdoptLocked(key, folder.FullName);
                }
            }

            // Least recently used first gets the lowest sequence, so ties in LastUsed keep their on-disk order.
            foreach (Entry entry in _entries.Values.OrderBy(e => e.Info.LastUsed).ToList())
            {
                entry.Sequence = ++_useSequence;
            }
        }
    }

    /// <summary>Reads and checks a published folder's metadata; returns what is wrong, or null.</summary>
    private static string? ReadFolder(ArtifactKey key, string folder, out ArtifactInfo? info)
    {
        info = null;
        var meta = new FileInfo(Path.Combine(folder, MetadataFile));
        var data = new FileInfo(Path.Combine(folder, DataFile));
        if (!meta.Exists || meta.Length > MaxMetadataBytes)
        {
            return "metadata is missing or too large";
        }

        if (!data.Exists || data.LinkTarget is not null || meta.LinkTarget is not null)
        {
            return "data file is missing or is a link";
        }

        try
        {
            info = JsonSerializer.Deserialize<ArtifactInfo>(File.ReadAllBytes(meta.FullName), s_json);
        }
        catch (JsonException e)
        {
            return $"metadata is not valid JSON ({e.Message})";
        }

        if (info is null || info.Key != key.Hex || !ArtifactKey.IsValid(info.Sha256) || info.Size != data.Length)
        {
            return info is null ? "metadata is empty" : $"metadata does not match (key {info.Key}, size {info.Size} for {data.Length} bytes)";
        }

        return null;
    }

    private static void WriteMetadata(string path, ArtifactInfo info)
    {
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, info, s_json);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    private void Report(ArtifactKey key, string reason) => _options.OnCorrupted?.Invoke(new ArtifactCorruption(key.Hex, reason));

    private static void DeleteQuietly(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private sealed class Entry(ArtifactKey key, string folder, ArtifactInfo info)
    {
        public ArtifactKey Key { get; } = key;

        public string Folder { get; } = folder;

        public ArtifactInfo Info { get; set; } = info;

        public int Leases { get; set; }

        public bool Doomed { get; set; }

        public long Sequence { get; set; }
    }
}
