using NetVips;

namespace VideoLong.Ingest.Images;

/// <summary>
/// Process-wide libvips settings and the one place libvips errors are turned into text.
/// </summary>
/// <remarks>
/// libvips keeps a cache of recent operations (and of their open files and tracked memory) that is shared by the whole
/// process; its defaults (100 operations, 100 MiB, 100 files) would keep the loader of every image opened recently —
/// and, for JPEG/PNG/WebP, its whole decoded raster — alive after <see cref="LargeImage.Dispose"/>. Decoded tiles of a
/// tiled TIFF are cached inside the image itself, so a small operation cache costs little; it keeps peak RSS near the
/// working set of the regions in flight (see DEPENDENCIES.md §3.7). The limits are applied once, on first use.
/// </remarks>
internal static class VipsRuntime
{
    /// <summary>Most operations kept in the libvips operation cache.</summary>
    public const int MaxCachedOperations = 16;

    /// <summary>Tracked memory above which libvips trims its operation cache.</summary>
    public const long MaxCacheMemoryBytes = 32L * 1024 * 1024;

    /// <summary>Most files the cached operations may keep open.</summary>
    public const int MaxCachedFiles = 8;

    private static readonly object _gate = new();
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> s_warnings = new();
    private static bool _configured;

    public static void EnsureConfigured()
    {
        if (Volatile.Read(ref _configured))
        {
            return;
        }

        lock (_gate)
        {
            if (_configured)
            {
                return;
            }

            Cache.Max = MaxCachedOperations;
            Cache.MaxMem = (ulong)MaxCacheMemoryBytes;
            Cache.MaxFiles = MaxCachedFiles;
            // libvips' warnings (a corrupt tile, a truncated strip) would go straight to stderr; keep the last few so the
            // exception that follows can quote them, and the CLI's one-line errors stay one line.
            Log.SetLogHandler("VIPS", Enums.LogLevelFlags.Warning | Enums.LogLevelFlags.Message | Enums.LogLevelFlags.Info, (_, _, message) =>
            {
                s_warnings.Enqueue(message.Trim());
                while (s_warnings.Count > 8 && s_warnings.TryDequeue(out _))
                {
                }
            });
            Volatile.Write(ref _configured, true);
        }
    }

    /// <summary>
    /// libvips' error text on one line, without the generic "unable to call …" preamble NetVips adds; when that
    /// preamble is all there is (some decoders only log a warning), says so.
    /// </summary>
    public static string Describe(VipsException exception)
    {
        IEnumerable<string> lines = exception.Message
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => !line.StartsWith("unable to call", StringComparison.Ordinal)
                           && !line.StartsWith("unable to write to memory", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .Take(4);
        string text = string.Join("; ", lines);
        if (text.Length > 0)
        {
            return text;
        }

        string warnings = string.Join("; ", s_warnings.TakeLast(3));
        return warnings.Length > 0 ? warnings : $"libvips gave no detail ({exception.Message.Trim()})";
    }
}
