using System.Globalization;
using System.Text.Json;
using VideoLong.Ingest.Tools;

namespace VideoLong.Ingest;

/// <summary>Options for probing.</summary>
public sealed record ProbeOptions
{
    public ToolLimits Limits { get; init; } = ToolLimits.Probe;
}

/// <summary>
/// Probes a video with ffprobe: container and stream facts from <c>-show_format -show_streams</c>, then the frame index
/// (presentation timestamps, keyframe flags) from the stream's packets. Packets are only demuxed, never decoded, so a
/// one-hour file probes in about a second.
/// </summary>
public static class VideoProbe
{
    public static async Task<VideoMetadata> ProbeAsync(string path, ProbeOptions? options = null, CancellationToken cancellationToken = default)
    {
        string full = MediaFile.RequireReadableFile(path);
        options ??= new ProbeOptions();

        (int exit, string json, string stderr) = await MediaTools.RunAsync(MediaTools.Ffprobe,
            ["-v", "error", "-hide_banner", "-show_format", "-show_streams", "-of", "json", "file:" + full],
            options.Limits, cancellationToken).ConfigureAwait(false);
        if (exit != 0)
        {
            throw new InvalidMediaException(full, $"'{path}' is not a media file FFmpeg can read ({FirstMeaningfulLine(stderr)}). Accepted: video files in any container and codec FFmpeg decodes (mp4, mkv, webm, avi, mov, …).");
        }

        using JsonDocument doc = ParseJson(json, full, path);
        JsonElement root = doc.RootElement;
        JsonElement format = root.TryGetProperty("format", out JsonElement f) ? f : default;
        JsonElement[] streams = root.TryGetProperty("streams", out JsonElement s) ? s.EnumerateArray().ToArray() : [];

        JsonElement? video = streams.Cast<JsonElement?>().FirstOrDefault(x => Str(x!.Value, "codec_type") == "video" && !IsAttachedPicture(x.Value));
        bool hasAudio = streams.Any(x => Str(x, "codec_type") == "audio");
        if (streams.Length == 0)
        {
            throw new EmptyVideoException(full, $"'{path}' holds no streams at all: it is an empty (zero-length) recording.");
        }

        if (video is null)
        {
            string kinds = streams.Length == 0 ? "no streams" : string.Join(", ", streams.Select(x => Str(x, "codec_type") ?? "unknown"));
            throw new NoVideoStreamException(full, $"'{path}' has no video stream (it holds {kinds}). Give a file with a video track.");
        }

        JsonElement v = video.Value;
        string codec = Str(v, "codec_name") ?? "unknown";
        if (codec == "unknown" || !await MediaTools.HasDecoderAsync(codec, cancellationToken).ConfigureAwait(false))
        {
            string tag = Str(v, "codec_tag_string") ?? "?";
            throw new UnsupportedCodecException(full, codec, $"'{path}' uses a video codec this FFmpeg cannot decode ({codec}, tag {tag}). Re-encode it, e.g. with libx264.");
        }

        int streamIndex = Int(v, "index") ?? 0;
        int width = Int(v, "width") ?? 0;
        int height = Int(v, "height") ?? 0;
        if (width <= 0 || height <= 0)
        {
            throw new InvalidMediaException(full, $"'{path}' has a video stream without a frame size ({width}×{height}); the file is damaged or incomplete.");
        }

        Rational timeBase = Rational.Parse(Str(v, "time_base"));
        if (!timeBase.IsValid)
        {
            throw new InvalidMediaException(full, $"'{path}' has a video stream without a valid time base.");
        }

        Rational frameRate = Rational.Parse(Str(v, "avg_frame_rate"));
        if (!frameRate.IsValid)
        {
            frameRate = Rational.Parse(Str(v, "r_frame_rate"));
        }

        Rational sar = Rational.Parse(Str(v, "sample_aspect_ratio"));
        int rotation = ReadRotation(v);
        double formatStart = Dbl(format, "start_time") ?? 0;
        double? streamDuration = Dbl(v, "duration");
        double? formatDuration = Dbl(format, "duration");

        (long[] rawPts, double[] pts, int[] keyframes, double lastDuration) = await ReadFrameIndexAsync(full, path, streamIndex, timeBase,
            formatStart, options, cancellationToken).ConfigureAwait(false);
        if (pts.Length == 0)
        {
            throw new EmptyVideoException(full, $"'{path}' has a video stream ({codec}) with no frames.");
        }

        var warnings = new List<string>();
        if (Int(v, "nb_frames") is { } declared && declared > pts.Length + 1)
        {
            warnings.Add($"The container declares {declared} frames but only {pts.Length} could be read: the file is truncated.");
        }

        double fps = frameRate.IsValid ? frameRate.Value : 0;
        double end = pts[^1] + lastDuration;
        double duration = Math.Max(streamDuration ?? formatDuration ?? end, end);
        // The stream's duration may be stated from the stream's own start; never report less than the frames span.
        (int displayWidth, int displayHeight) = DisplaySize(width, height, sar, rotation);

        return new VideoMetadata
        {
            Path = full,
            Container = Str(format, "format_name") ?? "unknown",
            ContainerLongName = Str(format, "format_long_name") ?? "",
            Codec = codec,
            CodecLongName = Str(v, "codec_long_name") ?? "",
            Profile = Str(v, "profile"),
            PixelFormat = Str(v, "pix_fmt") ?? "unknown",
            StreamIndex = streamIndex,
            Width = width,
            Height = height,
            Rotation = rotation,
            DisplayWidth = displayWidth,
            DisplayHeight = displayHeight,
            SampleAspectRatio = sar.IsValid ? sar : new Rational(1, 1),
            FrameRate = frameRate,
            TimeBase = timeBase,
            DurationSeconds = duration,
            StartSeconds = formatStart,
            BitRate = Dbl(format, "bit_rate") is { } br ? (long)br : null,
            HasAudio = hasAudio,
            Warnings = warnings,
            Timeline = new VideoTimeline(pts, keyframes, duration, fps),
            RawPts = rawPts,
        };
    }

    /// <summary>Frame size after rotation, with non-square pixels stretched to square ones (as players show them).</summary>
    internal static (int Width, int Height) DisplaySize(int width, int height, Rational sar, int rotation)
    {
        int w = width;
        if (sar.IsValid && sar.Numerator != sar.Denominator)
        {
            w = (int)Math.Round(width * sar.Value);
            w += w % 2;
        }

        bool quarterTurn = Math.Abs(rotation) % 180 == 90;
        return quarterTurn ? (height, w) : (w, height);
    }

    private static async Task<(long[] Raw, double[] Pts, int[] Keyframes, double LastDuration)> ReadFrameIndexAsync(string full, string path,
        int streamIndex, Rational timeBase, double startSeconds, ProbeOptions options, CancellationToken cancellationToken)
    {
        var frames = new List<(long Pts, bool Key, long Duration)>();
        (int exit, string stderr) = await MediaTools.RunLinesAsync(MediaTools.Ffprobe,
            ["-v", "error", "-hide_banner", "-select_streams", streamIndex.ToString(CultureInfo.InvariantCulture),
             "-show_entries", "packet=pts,dts,duration,flags", "-of", "csv=p=0", "file:" + full],
            options.Limits, line =>
            {
                if (ParsePacket(line) is { } packet)
                {
                    frames.Add(packet);
                }
            }, cancellationToken).ConfigureAwait(false);
        if (exit != 0)
        {
            throw new InvalidMediaException(full, $"Cannot read the packets of '{path}' ({FirstMeaningfulLine(stderr)}).");
        }

        frames.Sort((a, b) => a.Pts.CompareTo(b.Pts));
        // Drop duplicated timestamps (broken muxers): the frame index must be strictly increasing.
        var raw = new List<long>(frames.Count);
        var keys = new List<int>();
        long lastDuration = 0;
        foreach ((long p, bool key, long duration) in frames)
        {
            if (raw.Count > 0 && raw[^1] == p)
            {
                continue;
            }

            if (key)
            {
                keys.Add(raw.Count);
            }

            raw.Add(p);
            lastDuration = duration;
        }

        double[] seconds = raw.Select(p => timeBase.ToSeconds(p) - startSeconds).ToArray();
        return (raw.ToArray(), seconds, keys.ToArray(), timeBase.ToSeconds(lastDuration));
    }

    /// <summary>
    /// One packet line "pts,dts,duration,flags" (e.g. "1536,-512,512,__"), parsed without allocating. Packets with a D
    /// flag (discarded by the demuxer, e.g. edit-list pre-roll) and packets with neither pts nor dts are skipped.
    /// </summary>
    internal static (long Pts, bool Key, long Duration)? ParsePacket(ReadOnlySpan<char> text)
    {
        ReadOnlySpan<char> line = text.Trim();
        Span<Range> cells = stackalloc Range[5];
        if (line.Split(cells, ',') < 4)
        {
            return null;
        }

        ReadOnlySpan<char> flags = line[cells[3]];
        if (flags.Contains('D'))
        {
            return null;
        }

        long? pts = ParseLong(line[cells[0]]) ?? ParseLong(line[cells[1]]);
        return pts is null ? null : (pts.Value, flags.Contains('K'), ParseLong(line[cells[2]]) ?? 0);
    }

    private static JsonDocument ParseJson(string json, string full, string path)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidMediaException(full, $"ffprobe's report on '{path}' could not be read: {e.Message}", e);
        }
    }

    private static int ReadRotation(JsonElement stream)
    {
        if (stream.TryGetProperty("side_data_list", out JsonElement sideData) && sideData.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in sideData.EnumerateArray())
            {
                if (item.TryGetProperty("rotation", out JsonElement r) && r.TryGetDouble(out double degrees))
                {
                    return (int)Math.Round(degrees);
                }
            }
        }

        return stream.TryGetProperty("tags", out JsonElement tags) && Str(tags, "rotate") is { } tag
               && int.TryParse(tag, NumberStyles.Integer, CultureInfo.InvariantCulture, out int rotate) ? rotate : 0;
    }

    private static bool IsAttachedPicture(JsonElement stream) =>
        stream.TryGetProperty("disposition", out JsonElement d) && d.TryGetProperty("attached_pic", out JsonElement a)
        && a.ValueKind == JsonValueKind.Number && a.GetInt32() == 1;

    private static string FirstMeaningfulLine(string stderr)
    {
        string? line = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (line is null)
        {
            return "no details";
        }

        // "file:/tmp/x.mp4: Invalid data found when processing input" -> the reason only
        int colon = line.LastIndexOf(": ", StringComparison.Ordinal);
        return colon >= 0 ? line[(colon + 2)..] : line;
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement p)
            ? p.ValueKind == JsonValueKind.String ? p.GetString() : p.ValueKind == JsonValueKind.Number ? p.GetRawText() : null
            : null;

    private static int? Int(JsonElement e, string name) =>
        Str(e, name) is { } s && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;

    private static double? Dbl(JsonElement e, string name) =>
        Str(e, name) is { } s && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v : null;

    private static long? ParseLong(ReadOnlySpan<char> s) =>
        long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;
}
