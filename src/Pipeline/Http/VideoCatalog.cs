using System.Text.Json;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Http;

/// <summary>What the API tells about a registered video: its id and the facts ffprobe found.</summary>
public sealed record VideoSummary
{
    public required string Id { get; init; }

    /// <summary>True for an uploaded copy; false for a file named under an allowed root.</summary>
    public required bool Uploaded { get; init; }

    public required string Container { get; init; }

    public required string Codec { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    public required double DurationSeconds { get; init; }

    public required double FramesPerSecond { get; init; }

    public required int FrameCount { get; init; }

    public required bool HasAudio { get; init; }

    public required long SizeBytes { get; init; }
}

/// <summary>
/// The videos the API knows: <c>videos/ID/video.json</c> under the data folder (the source path and the probe
/// summary), plus <c>videos/ID/source</c> for uploads. Ids are 32 lowercase hexadecimal digits.
/// </summary>
internal sealed class VideoCatalog(HttpApiOptions options)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string NewId() => Guid.NewGuid().ToString("N");

    public static bool IsId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    public string FolderOf(string id) => Path.Combine(options.VideoDirectory, id);

    /// <summary>Probes <paramref name="path"/> (the content decides, never the name) and records it under <paramref name="id"/>.</summary>
    /// <exception cref="VideoLongException">FFmpeg cannot read the file as a video.</exception>
    public async Task<VideoSummary> RegisterAsync(string id, string path, bool uploaded, CancellationToken cancellationToken)
    {
        VideoMetadata probe = await VideoProbe.ProbeAsync(path, null, cancellationToken).ConfigureAwait(false);
        var summary = new VideoSummary
        {
            Id = id, Uploaded = uploaded, Container = probe.Container, Codec = probe.Codec, Width = probe.DisplayWidth, Height = probe.DisplayHeight,
            DurationSeconds = probe.DurationSeconds, FramesPerSecond = probe.FrameRate.Value, FrameCount = probe.FrameCount,
            HasAudio = probe.HasAudio, SizeBytes = new FileInfo(path).Length,
        };
        Directory.CreateDirectory(FolderOf(id));
        string temp = Path.Combine(FolderOf(id), "video.json.tmp");
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(new Entry(path, summary), Json), cancellationToken).ConfigureAwait(false);
        File.Move(temp, Path.Combine(FolderOf(id), "video.json"), overwrite: true);
        return summary;
    }

    /// <summary>The source path of a registered video; null when the id is unknown.</summary>
    public async Task<string?> SourceOfAsync(string id, CancellationToken cancellationToken)
    {
        string file = Path.Combine(FolderOf(id), "video.json");
        if (!IsId(id) || !File.Exists(file))
        {
            return null;
        }

        Entry? entry = JsonSerializer.Deserialize<Entry>(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false), Json);
        return entry?.Path;
    }

    private sealed record Entry(string Path, VideoSummary Summary);
}
