using System.Diagnostics;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Tests.Artifacts;

/// <summary>Several processes (serve and workers) on one data folder: opening the cache must not destroy another live process's writes.</summary>
public sealed class When_processes_share_a_cache_folder : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Opening_it_keeps_the_staging_folders_of_live_processes_and_removes_those_of_dead_ones()
    {
        using Process live = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        using Process dead = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        await dead.WaitForExitAsync();
        try
        {
            string tmp = Path.Combine(_folder.Path, "tmp");
            string ofLive = Path.Combine(tmp, $"{Keys.Of("live").Hex}.p{live.Id}.0123");
            string ofDead = Path.Combine(tmp, $"{Keys.Of("dead").Hex}.p{dead.Id}.0123");
            string trashOfLive = Path.Combine(tmp, $"trash.p{live.Id}.4567");
            foreach (string folder in new[] { ofLive, ofDead, trashOfLive })
            {
                Directory.CreateDirectory(folder);
                await File.WriteAllBytesAsync(Path.Combine(folder, "data"), [1, 2]);
            }

            ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);

            Assert.True(Directory.Exists(ofLive), "a live process's write in progress was deleted");
            Assert.True(Directory.Exists(trashOfLive));
            Assert.False(Directory.Exists(ofDead));
            Assert.Equal(0, cache.Count);

            // A put from this process stages under its own pid and publishes atomically.
            await cache.PutAsync(Keys.Of("mine"), "test", new MemoryStream([7]), CancellationToken.None);
            Assert.Equal(2, Directory.EnumerateFileSystemEntries(tmp).Count());   // only the live process's two folders remain
        }
        finally
        {
            live.Kill();
        }
    }
}

/// <summary>Eviction by one process must not delete an artifact another process is reading.</summary>
public sealed class When_another_process_holds_a_lease : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Eviction_skips_it_until_the_lease_is_released()
    {
        // Two caches on one folder stand for two processes: each has its own index and lease counts (flock locks
        // belong to open files, so they conflict between the two here as between processes).
        ArtifactCache reader = await ArtifactCache.OpenAsync(_folder.Path);
        await reader.PutAsync(Keys.Of("read"), "test", new MemoryStream(new byte[600]), CancellationToken.None);
        await reader.PutAsync(Keys.Of("idle"), "test", new MemoryStream(new byte[600]), CancellationToken.None);
        ArtifactLease lease = (await reader.TryGetAsync(Keys.Of("read"), CancellationToken.None))!;

        ArtifactCache evictor = await ArtifactCache.OpenAsync(_folder.Path, new ArtifactCacheOptions { MaxTotalBytes = 100 });

        Assert.False(await evictor.ContainsAsync(Keys.Of("idle"), CancellationToken.None));
        Assert.True(await evictor.ContainsAsync(Keys.Of("read"), CancellationToken.None));
        await using (FileStream stream = lease.OpenRead())
        {
            Assert.Equal(600, stream.Length);
        }

        await lease.DisposeAsync();
        Assert.Equal(1, await evictor.EvictAsync(CancellationToken.None));
        Assert.False(await evictor.ContainsAsync(Keys.Of("read"), CancellationToken.None));
    }
}
