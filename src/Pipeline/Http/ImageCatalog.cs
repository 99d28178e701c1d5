using System.Text.Json;
using VideoLong.Ingest.Images;

namespace VideoLong.Pipeline.Http;

/// <summary>What the API tells about a registered image: its id and what its header says.</summary>
public sealed record ImageSummary
{
    public required string Id { get; init; }

    /// <summary>True for an uploaded copy; false for a file named under an allowed root.</summary>
    public required bool Uploaded { get; init; }

    /// <summary>The container the content was recognised as: Tiff, BigTiff, Png or Jpeg.</summary>
    public required string Container { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    public required int Bands { get; init; }

    public required bool Tiled { get; init; }

    public required int Levels { get; init; }

    public required bool Georeferenced { get; init; }

    /// <summary>e.g. <c>EPSG:26711</c>; null when not georeferenced or the CRS is not named.</summary>
    public string? Crs { get; init; }

    public required long SizeBytes { get; init; }
}

/// <summary>
/// The images the API knows: <c>images/ID/image.json</c> under the data folder (the source path and the header
/// summary), plus <c>images/ID/source</c> for uploads. The content decides what a file is: its first bytes must be a
/// TIFF, BigTIFF, PNG or JPEG signature, and libvips must read its header.
/// </summary>
internal sealed class ImageCatalog(HttpApiOptions options)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Directory => Path.Combine(options.DataDirectory, "images");

    public string FolderOf(string id) => Path.Combine(Directory, id);

    /// <summary>The container named by the file's first bytes; null when they are not TIFF, BigTIFF, PNG or JPEG.</summary>
    public static string? Signature(ReadOnlySpan<byte> head) => head switch
    {
        [0x49, 0x49, 0x2A, 0x00, ..] or [0x4D, 0x4D, 0x00, 0x2A, ..] => "Tiff",
        [0x49, 0x49, 0x2B, 0x00, ..] or [0x4D, 0x4D, 0x00, 0x2B, ..] => "BigTiff",
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, ..] => "Png",
        [0xFF, 0xD8, 0xFF, ..] => "Jpeg",
        _ => null,
    };

    /// <summary>Checks <paramref name="path"/> by content and records it under <paramref name="id"/>.</summary>
    /// <exception cref="VideoLongException">The signature is not an accepted one, or libvips cannot read the header.</exception>
    public async Task<ImageSummary> RegisterAsync(string id, string path, bool uploaded, CancellationToken cancellationToken)
    {
        byte[] head = new byte[16];
        int read;
        await using (FileStream stream = File.OpenRead(path))
        {
            read = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        }

        string container = Signature(head.AsSpan(0, read))
            ?? throw new VideoLongException("The content is not a TIFF, BigTIFF, PNG or JPEG image (its first bytes are no such signature).");
        ImageSummary summary;
        using (LargeImage image = LargeImage.Open(path))
        {
            summary = new ImageSummary
            {
                Id = id, Uploaded = uploaded, Container = container, Width = image.Width, Height = image.Height, Bands = image.Bands, Tiled = image.IsTiled,
                Levels = image.LevelCount, Georeferenced = image.Geo is not null, Crs = image.Geo?.Epsg is { } epsg ? $"EPSG:{epsg}" : null,
                SizeBytes = new FileInfo(path).Length,
            };
        }

        System.IO.Directory.CreateDirectory(FolderOf(id));
        string temp = Path.Combine(FolderOf(id), "image.json.tmp");
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(new Entry(path, summary), Json), cancellationToken).ConfigureAwait(false);
        File.Move(temp, Path.Combine(FolderOf(id), "image.json"), overwrite: true);
        return summary;
    }

    /// <summary>The source path of a registered image; null when the id is unknown.</summary>
    public async Task<string?> SourceOfAsync(string id, CancellationToken cancellationToken)
    {
        string file = Path.Combine(FolderOf(id), "image.json");
        if (!VideoCatalog.IsId(id) || !File.Exists(file))
        {
            return null;
        }

        Entry? entry = JsonSerializer.Deserialize<Entry>(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false), Json);
        return entry?.Path;
    }

    private sealed record Entry(string Path, ImageSummary Summary);
}
