namespace VideoLong.Pipeline.Http;

/// <summary>
/// Decides whether a path names a file under the configured roots. Paths are refused when they hold a <c>..</c>
/// segment or are not absolute; otherwise every symbolic link on the way is resolved to its final target (like
/// realpath(3)) and the real path must lie under a root's own real path.
/// </summary>
internal sealed class AllowedRoots(IReadOnlyList<string> roots)
{
    private const int MaxLinkHops = 40;

    private readonly string[] _roots = roots.Select(r => RealPath(Path.GetFullPath(r))).ToArray();

    /// <summary>The real path of <paramref name="path"/> when it lies under a root; null otherwise.</summary>
    public string? Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path) || path.Contains('\0', StringComparison.Ordinal)
            || path.Split('/', '\\').Any(segment => segment == ".."))
        {
            return null;
        }

        string real;
        try
        {
            real = RealPath(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;   // a link loop or an unreadable folder on the way: not provably inside a root
        }

        return _roots.Any(root => real == root || real.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal)) ? real : null;
    }

    /// <summary>The path with every link resolved, segment by segment (a missing tail is kept as it is).</summary>
    internal static string RealPath(string fullPath)
    {
        var pending = new Stack<string>(fullPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        string current = "/";
        int hops = 0;
        while (pending.TryPop(out string? segment))
        {
            if (segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }

            string next = Path.Join(current, segment);
            string? target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }

            if (++hops > MaxLinkHops)
            {
                throw new IOException($"Too many symbolic links in '{fullPath}'.");
            }

            foreach (string part in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(part);
            }

            if (Path.IsPathRooted(target))
            {
                current = "/";
            }
        }

        return current;
    }
}
