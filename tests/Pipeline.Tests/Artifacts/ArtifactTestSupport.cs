using System.Text;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Tests.Artifacts;

/// <summary>A temporary cache folder per test, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "videolong-artifacts-" + Guid.NewGuid().ToString("N")[..12]);

    public TempFolder() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class Keys
{
    public const string Source = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    public static ArtifactKey Of(string name) => ArtifactKey.For(Source, "test").Add("name", name).Build();

    public static byte[] Bytes(string text, int repeat = 1) => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(text, repeat)));

    public static async Task<byte[]> ReadAllAsync(ArtifactLease lease)
    {
        await using FileStream stream = lease.OpenRead();
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory);
        return memory.ToArray();
    }
}
