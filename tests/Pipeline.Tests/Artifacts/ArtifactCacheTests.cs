using System.Text.Json;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Tests.Artifacts;

public sealed class When_artifacts_are_put_and_got : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_bytes_come_back_with_their_metadata()
    {
        var time = new ManualTime();
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { TimeProvider = time });
        byte[] bytes = Keys.Bytes("frames", 500);
        ArtifactInfo put = await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream(bytes), CancellationToken.None);
        Assert.Equal(bytes.Length, put.Size);
        Assert.Equal(ContentHash.OfBytes(bytes), put.Sha256);

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        await using ArtifactLease? lease = await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None);
        Assert.NotNull(lease);
        Assert.Equal(bytes, await Keys.ReadAllAsync(lease));
        Assert.Equal("test", lease.Info.Kind);
        Assert.Equal(put.Created + TimeSpan.FromMinutes(1), lease.Info.LastUsed);
        Assert.StartsWith(cache.Root, lease.Path, StringComparison.Ordinal);
        Assert.Null(await cache.TryGetAsync(Keys.Of("b"), CancellationToken.None));
    }

    [Fact]
    public async Task A_key_already_stored_is_not_written_again()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream([1, 2, 3]), CancellationToken.None);
        bool called = false;
        ArtifactInfo again = await cache.PutAsync(Keys.Of("a"), "test", (_, _) => { called = true; return Task.CompletedTask; }, CancellationToken.None);
        Assert.False(called);
        Assert.Equal(3, again.Size);
    }

    [Fact]
    public async Task A_failing_write_leaves_nothing_behind()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.PutAsync(Keys.Of("a"), "test", async (stream, ct) =>
        {
            await stream.WriteAsync(Keys.Bytes("half of an artifact", 100), ct);
            throw new InvalidOperationException("encoder crashed");
        }, CancellationToken.None));

        Assert.False(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Null(await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Equal(0, cache.TotalBytes);
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_cancelled_write_leaves_nothing_behind()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cache.PutAsync(Keys.Of("a"), "test", async (stream, ct) =>
        {
            await stream.WriteAsync(new byte[100], ct);
            await cts.CancelAsync();
            ct.ThrowIfCancellationRequested();
        }, cts.Token));
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Removing_an_artifact_deletes_it()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream([1, 2, 3]), CancellationToken.None);
        Assert.True(await cache.RemoveAsync(Keys.Of("a"), CancellationToken.None));
        Assert.False(await cache.RemoveAsync(Keys.Of("a"), CancellationToken.None));
        Assert.False(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_leased_artifact_that_is_removed_stays_readable_until_released()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream([1, 2, 3]), CancellationToken.None);
        ArtifactLease lease = (await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None))!;
        Assert.True(await cache.RemoveAsync(Keys.Of("a"), CancellationToken.None));
        Assert.False(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Equal([1, 2, 3], await Keys.ReadAllAsync(lease));
        lease.Dispose();
        Assert.False(File.Exists(lease.Path));
        Assert.Equal(0, cache.TotalBytes);
    }
}

public sealed class When_the_cache_is_over_its_size_limit : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly ManualTime _time = new();

    public void Dispose() => _folder.Dispose();

    private Task<ArtifactCache> Open(long limit) =>
        ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { MaxTotalBytes = limit, TimeProvider = _time });

    private async Task Put(ArtifactCache cache, string name)
    {
        await cache.PutAsync(Keys.Of(name), "test", new MemoryStream(new byte[100]), CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task The_least_recently_used_artifact_goes_first()
    {
        ArtifactCache cache = await Open(300);
        await Put(cache, "a");
        await Put(cache, "b");
        await Put(cache, "c");
        (await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None))!.Dispose();   // a is now used more recently than b
        _time.Advance(TimeSpan.FromSeconds(1));

        await Put(cache, "d");

        Assert.False(await cache.ContainsAsync(Keys.Of("b"), CancellationToken.None));
        Assert.True(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.True(await cache.ContainsAsync(Keys.Of("c"), CancellationToken.None));
        Assert.True(await cache.ContainsAsync(Keys.Of("d"), CancellationToken.None));
        Assert.Equal(300, cache.TotalBytes);
    }

    [Fact]
    public async Task An_artifact_open_for_reading_is_not_evicted()
    {
        ArtifactCache cache = await Open(200);
        await Put(cache, "a");
        await Put(cache, "b");
        await using (ArtifactLease lease = (await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None))!)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Put(cache, "c");
            await Put(cache, "d");
            await Put(cache, "e");

            Assert.True(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
            Assert.Equal(new byte[100], await Keys.ReadAllAsync(lease));
        }

        Assert.True(cache.TotalBytes <= 200);
    }

    [Fact]
    public async Task The_artifact_just_put_is_kept_while_others_are_leased_and_eviction_catches_up_on_release()
    {
        ArtifactCache cache = await Open(100);
        await Put(cache, "a");
        ArtifactLease lease = (await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None))!;
        await Put(cache, "b");
        Assert.Equal(200, cache.TotalBytes);                                           // b went in; a is held
        lease.Dispose();
        Assert.Equal(100, cache.TotalBytes);
        Assert.False(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.True(await cache.ContainsAsync(Keys.Of("b"), CancellationToken.None));
    }
}

public sealed class When_the_cache_is_reopened : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_index_is_rebuilt_from_the_folder_with_last_use_kept()
    {
        var time = new ManualTime();
        ArtifactCache first = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { TimeProvider = time });
        await first.PutAsync(Keys.Of("old"), "test", new MemoryStream(new byte[100]), CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(1));
        await first.PutAsync(Keys.Of("new"), "test", new MemoryStream(new byte[100]), CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(1));
        (await first.TryGetAsync(Keys.Of("old"), CancellationToken.None))!.Dispose();

        ArtifactCache second = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { TimeProvider = time, MaxTotalBytes = 100 });

        Assert.Equal(1, second.Count);
        Assert.True(await second.ContainsAsync(Keys.Of("old"), CancellationToken.None));
        await using ArtifactLease? lease = await second.TryGetAsync(Keys.Of("old"), CancellationToken.None);
        Assert.Equal(new byte[100], await Keys.ReadAllAsync(lease!));
    }

    [Fact]
    public async Task Leftovers_of_interrupted_writes_are_deleted_and_incomplete_artifacts_dropped()
    {
        ArtifactCache first = await ArtifactCache.OpenAsync(_folder.Path);
        await first.PutAsync(Keys.Of("kept"), "test", new MemoryStream([1, 2, 3]), CancellationToken.None);

        string staged = Path.Combine(_folder.Path, "tmp", Keys.Of("crash").Hex + ".0123");
        Directory.CreateDirectory(staged);
        await File.WriteAllBytesAsync(Path.Combine(staged, "data"), [9, 9]);
        string noMetadata = Path.Combine(_folder.Path, "objects", Keys.Of("torn").Hex[..2], Keys.Of("torn").Hex);
        Directory.CreateDirectory(noMetadata);
        await File.WriteAllBytesAsync(Path.Combine(noMetadata, "data"), [9, 9]);
        var reports = new List<ArtifactCorruption>();

        ArtifactCache second = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { OnCorrupted = reports.Add });

        Assert.False(Directory.Exists(staged));
        Assert.False(Directory.Exists(noMetadata));
        Assert.Equal(Keys.Of("torn").Hex, Assert.Single(reports).Key);
        Assert.Equal(1, second.Count);
        Assert.Equal(3, second.TotalBytes);
    }
}

public sealed class When_a_stored_artifact_is_damaged : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_flipped_byte_is_reported_and_the_artifact_removed_not_returned()
    {
        var reports = new List<ArtifactCorruption>();
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { OnCorrupted = reports.Add });
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream(Keys.Bytes("tokens", 100)), CancellationToken.None);
        string data;
        await using (ArtifactLease lease = (await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None))!)
        {
            data = lease.Path;
        }

        byte[] bytes = await File.ReadAllBytesAsync(data);
        bytes[10] ^= 0xFF;
        await File.WriteAllBytesAsync(data, bytes);

        Assert.Null(await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Contains("SHA-256", Assert.Single(reports).Reason, StringComparison.Ordinal);
        Assert.False(await cache.ContainsAsync(Keys.Of("a"), CancellationToken.None));
        Assert.False(File.Exists(data));
        Assert.Equal(0, cache.TotalBytes);
    }

    [Fact]
    public async Task A_truncated_file_is_reported_by_its_size()
    {
        var reports = new List<ArtifactCorruption>();
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { OnCorrupted = reports.Add, VerifyHashOnRead = false });
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream(new byte[100]), CancellationToken.None);
        string data = Path.Combine(cache.Root, "objects", Keys.Of("a").Hex[..2], Keys.Of("a").Hex, "data");
        await File.WriteAllBytesAsync(data, new byte[50]);

        Assert.Null(await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None));
        Assert.Contains("size", Assert.Single(reports).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metadata_naming_another_key_is_refused_on_reopen()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        await cache.PutAsync(Keys.Of("a"), "test", new MemoryStream(new byte[10]), CancellationToken.None);
        string meta = Path.Combine(cache.Root, "objects", Keys.Of("a").Hex[..2], Keys.Of("a").Hex, "meta.json");
        ArtifactInfo info = JsonSerializer.Deserialize<ArtifactInfo>(await File.ReadAllTextAsync(meta))!;
        await File.WriteAllTextAsync(meta, JsonSerializer.Serialize(info with { Key = Keys.Of("b").Hex }));

        ArtifactCache reopened = await ArtifactCache.OpenAsync(_folder.Path);
        Assert.Equal(0, reopened.Count);
        Assert.Null(await reopened.TryGetAsync(Keys.Of("a"), CancellationToken.None));
    }
}

public sealed class When_writers_race_on_one_key : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Concurrent_puts_store_one_complete_copy_that_every_reader_sees()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        byte[] content = Keys.Bytes("the same artifact ", 5000);
        using var start = new ManualResetEventSlim();
        Task<ArtifactInfo>[] puts = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return cache.PutAsync(Keys.Of("a"), "test", async (stream, ct) =>
            {
                for (int i = 0; i < content.Length; i += 4096)
                {
                    await stream.WriteAsync(content.AsMemory(i, Math.Min(4096, content.Length - i)), ct);
                    await Task.Yield();
                }
            }, CancellationToken.None);
        })).ToArray();
        start.Set();
        ArtifactInfo[] infos = await Task.WhenAll(puts);

        Assert.All(infos, i => Assert.Equal(content.Length, i.Size));
        Assert.Single(infos.Select(i => i.Sha256).Distinct());
        Assert.Equal(content.Length, cache.TotalBytes);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(cache.Root, "tmp")));
        await using ArtifactLease? lease = await cache.TryGetAsync(Keys.Of("a"), CancellationToken.None);
        Assert.Equal(content, await Keys.ReadAllAsync(lease!));
    }

    [Fact]
    public async Task A_copy_published_by_another_process_wins_and_is_adopted()
    {
        ArtifactCache mine = await ArtifactCache.OpenAsync(_folder.Path);
        ArtifactCache other = await ArtifactCache.OpenAsync(_folder.Path);          // stands in for a second process
        byte[] content = Keys.Bytes("shared", 100);
        await mine.PutAsync(Keys.Of("a"), "test", async (stream, ct) =>
        {
            await stream.WriteAsync(content, ct);
            await other.PutAsync(Keys.Of("a"), "test", new MemoryStream(content), ct);    // the other writer renames first
        }, CancellationToken.None);

        await using ArtifactLease? fromMine = await mine.TryGetAsync(Keys.Of("a"), CancellationToken.None);
        await using ArtifactLease? fromOther = await other.TryGetAsync(Keys.Of("a"), CancellationToken.None);
        Assert.Equal(content, await Keys.ReadAllAsync(fromMine!));
        Assert.Equal(content, await Keys.ReadAllAsync(fromOther!));
        Assert.Equal(fromMine!.Path, fromOther!.Path);
    }

    [Fact]
    public async Task Concurrent_readers_writers_and_evictions_keep_the_totals_consistent()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { MaxTotalBytes = 1000 });
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            ArtifactKey key = Keys.Of((i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
            await cache.PutAsync(key, "test", new MemoryStream(new byte[200]), CancellationToken.None);
            await using ArtifactLease? lease = await cache.TryGetAsync(key, CancellationToken.None);
            if (lease is not null)
            {
                Assert.Equal(200, (await Keys.ReadAllAsync(lease)).Length);
            }
        })));

        await cache.EvictAsync(CancellationToken.None);
        Assert.True(cache.TotalBytes <= 1000);
        Assert.Equal(cache.Count * 200, cache.TotalBytes);
        long onDisk = Directory.EnumerateFiles(Path.Combine(cache.Root, "objects"), "data", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.Equal(cache.TotalBytes, onDisk);
    }
}
