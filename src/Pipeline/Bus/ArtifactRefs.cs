using VideoLong.Contracts;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Bus;

/// <summary>Claim checks for cached artifacts: <c>videolong-artifact:KEY</c> plus the content's SHA-256 and size.</summary>
public static class ArtifactRefs
{
    public const string Scheme = "videolong-artifact";

    public static ArtifactRef For(ArtifactKey key, ArtifactInfo info) => new()
    {
        Uri = new Uri($"{Scheme}:{key.Hex}"),
        Sha256 = info.Sha256,
        SizeBytes = info.Size,
    };

    /// <summary>The cache key an artifact reference names.</summary>
    /// <exception cref="VideoLongException">The reference is not a cached artifact.</exception>
    public static ArtifactKey KeyOf(ArtifactRef reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return reference.Uri.Scheme == Scheme
            ? ArtifactKey.Parse(reference.Uri.AbsolutePath)
            : throw new VideoLongException($"'{reference.Uri}' is not a cached artifact ({Scheme}:KEY expected).");
    }

    /// <summary>A local source file as a claim check (file URI, content hash, size).</summary>
    public static async Task<ArtifactRef> ForFileAsync(string path, CancellationToken cancellationToken)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new VideoLongException($"Video '{path}' does not exist.");
        }

        string sha = await ContentHash.OfFileAsync(full, cancellationToken).ConfigureAwait(false);
        // A file:// URI written out in full: a bare path would travel as a relative URI on Unix.
        return new ArtifactRef { Uri = new UriBuilder { Scheme = Uri.UriSchemeFile, Host = "", Path = full }.Uri, Sha256 = sha, SizeBytes = new FileInfo(full).Length };
    }
}
