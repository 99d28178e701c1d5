using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>Progress of hashing a file: bytes hashed out of the file's length.</summary>
public readonly record struct HashProgress(long BytesHashed, long TotalBytes);

/// <summary>
/// SHA-256 content hashes as 64 lowercase hex digits. Files are streamed (memory stays flat for a 2 GB video), and the
/// hash of a file is remembered by (full path, length, last-write time): asking again for an unchanged file returns at
/// once without reading it. A file that changes while it is hashed is hashed but not remembered.
/// </summary>
public static class ContentHash
{
    /// <summary>At most this many files are remembered; the memory is cleared when it fills (it is only a shortcut).</summary>
    public const int MaxRemembered = 4096;

    private const int BufferSize = 1 << 20;

    private static readonly ConcurrentDictionary<string, Remembered> s_remembered = new(StringComparer.Ordinal);

    public static Task<string> OfFileAsync(string path, CancellationToken cancellationToken) => OfFileAsync(path, null, cancellationToken);

    public static async Task<string> OfFileAsync(string path, IProgress<HashProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        var before = new FileInfo(full);
        if (!before.Exists)
        {
            throw new VideoLongException($"Cannot hash '{path}': the file does not exist.");
        }

        (long length, DateTime written) = (before.Length, before.LastWriteTimeUtc);
        if (s_remembered.TryGetValue(full, out Remembered known) && known.Length == length && known.LastWriteUtc == written)
        {
            progress?.Report(new HashProgress(length, length));
            return known.Hash;
        }

        string hash;
        await using (var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            hash = await OfStreamAsync(stream, progress is null ? null : new Progress(progress, length), cancellationToken);
        }

        var after = new FileInfo(full);
        if (after.Exists && after.Length == length && after.LastWriteTimeUtc == written)
        {
            if (s_remembered.Count >= MaxRemembered)
            {
                s_remembered.Clear();
            }

            s_remembered[full] = new Remembered(length, written, hash);
        }

        return hash;
    }

    /// <summary>Hashes a stream from its current position to its end; <paramref name="bytesHashed"/> reports the running count.</summary>
    public static async Task<string> OfStreamAsync(Stream stream, IProgress<long>? bytesHashed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                sha.AppendData(buffer, 0, read);
                total += read;
                bytesHashed?.Report(total);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public static string OfBytes(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Forgets every remembered file hash (tests; or after restoring files with preserved timestamps).</summary>
    public static void Forget() => s_remembered.Clear();

    private readonly record struct Remembered(long Length, DateTime LastWriteUtc, string Hash);

    private sealed class Progress(IProgress<HashProgress> inner, long total) : IProgress<long>
    {
        public void Report(long value) => inner.Report(new HashProgress(value, total));
    }
}
