using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>Where one stored frame came from: the <see cref="VideoFrame"/> fields other than its pixels.</summary>
public sealed record FrameManifestEntry
{
    [JsonPropertyName("sample")] public required int SampleIndex { get; init; }

    [JsonPropertyName("frame")] public required int FrameIndex { get; init; }

    [JsonPropertyName("requested")] public required double RequestedSeconds { get; init; }

    [JsonPropertyName("pts")] public required double PtsSeconds { get; init; }

    [JsonPropertyName("duration")] public required double DurationSeconds { get; init; }

    [JsonPropertyName("key")] public bool IsKeyframe { get; init; }

    [JsonPropertyName("approximate")] public bool Approximate { get; init; }
}

/// <summary>
/// Sampled frames as one artifact (kind <see cref="ArtifactKinds.SampledFrames"/>): a safetensors file with
/// <c>frames</c> U8 [T, H, W, 3] (RGB24, exactly the decoded pixels), <c>pts_seconds</c> F64 [T], and in its metadata the
/// format name and a JSON manifest of each frame's indices and timestamps. All frames share one size (a sampled plan
/// delivers one <see cref="FrameFormat"/>). Readable from Python with <c>safetensors.safe_open</c>.
/// </summary>
public static class SampledFramesArtifact
{
    public const string FramesTensor = "frames";
    public const string PtsTensor = "pts_seconds";
    public const string FormatName = "videolong.sampled-frames";
    public const string FormatVersion = "1";

    public static Task WriteAsync(Stream destination, IReadOnlyList<VideoFrame> frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(frames);
        int width = frames.Count > 0 ? frames[0].Width : 0;
        int height = frames.Count > 0 ? frames[0].Height : 0;
        foreach (VideoFrame frame in frames)
        {
            if (frame.Width != width || frame.Height != height || frame.Rgb24.Length < (long)width * height * 3)
            {
                throw new ArgumentException($"All frames must be {width}x{height} RGB24; frame {frame.FrameIndex} is {frame.Width}x{frame.Height} with {frame.Rgb24.Length} bytes.", nameof(frames));
            }
        }

        FrameManifestEntry[] manifest = frames.Select(f => new FrameManifestEntry
        {
            SampleIndex = f.SampleIndex,
            FrameIndex = f.FrameIndex,
            RequestedSeconds = f.RequestedSeconds,
            PtsSeconds = f.PtsSeconds,
            DurationSeconds = f.DurationSeconds,
            IsKeyframe = f.IsKeyframe,
            Approximate = f.Approximate,
        }).ToArray();
        var metadata = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["version"] = FormatVersion,
            ["width"] = width.ToString(CultureInfo.InvariantCulture),
            ["height"] = height.ToString(CultureInfo.InvariantCulture),
            ["manifest"] = JsonSerializer.Serialize(manifest),
        };
        int frameBytes = width * height * 3;
        SafetensorsTensor[] tensors =
        [
            new(PtsTensor, TensorDtype.F64, [frames.Count], async (stream, ct) =>
            {
                byte[] pts = new byte[frames.Count * 8];
                for (int i = 0; i < frames.Count; i++)
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(pts.AsSpan(i * 8), frames[i].PtsSeconds);
                }

                await stream.WriteAsync(pts, ct);
            }),
            new(FramesTensor, TensorDtype.U8, [frames.Count, height, width, 3], async (stream, ct) =>
            {
                foreach (VideoFrame frame in frames)
                {
                    await stream.WriteAsync(frame.Rgb24.AsMemory(0, frameBytes), ct);
                }
            }),
        ];
        return SafetensorsWriter.WriteAsync(destination, tensors, metadata, cancellationToken);
    }

    /// <summary>Reads frames written by <see cref="WriteAsync"/>, with their timestamps and indices.</summary>
    public static async Task<IReadOnlyList<VideoFrame>> ReadAsync(Stream source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        SafetensorsHeader header = await SafetensorsHeader.ReadAsync(source, cancellationToken);
        if (!header.Metadata.TryGetValue("format", out string? format) || format != FormatName
            || !header.Metadata.TryGetValue("version", out string? version) || version != FormatVersion)
        {
            throw new VideoLongException($"Not a sampled-frames artifact: expected format '{FormatName}' version {FormatVersion}.");
        }

        FrameManifestEntry[] manifest = JsonSerializer.Deserialize<FrameManifestEntry[]>(header.Metadata.GetValueOrDefault("manifest", "[]")) ?? [];
        if (!header.Tensors.TryGetValue(FramesTensor, out var frames) || frames.Dtype != "U8" || frames.Shape.Length != 4
            || frames.Shape[0] != manifest.Length || frames.Shape[3] != 3 || frames.Shape[1] > FrameFormat.MaxSide || frames.Shape[2] > FrameFormat.MaxSide
            || frames.End - frames.Begin != frames.Shape[0] * frames.Shape[1] * frames.Shape[2] * 3)
        {
            throw new VideoLongException($"Sampled-frames artifact has no valid '{FramesTensor}' tensor for its {manifest.Length} manifest entries (U8 [T, H, W, 3] expected).");
        }

        int height = (int)frames.Shape[1];
        int width = (int)frames.Shape[2];
        await header.SkipToAsync(source, 0, frames.Begin, cancellationToken);
        var result = new List<VideoFrame>(manifest.Length);
        foreach (FrameManifestEntry entry in manifest)
        {
            byte[] rgb = GC.AllocateUninitializedArray<byte>(width * height * 3);
            await source.ReadExactlyAsync(rgb, cancellationToken);
            result.Add(new VideoFrame
            {
                SampleIndex = entry.SampleIndex,
                FrameIndex = entry.FrameIndex,
                RequestedSeconds = entry.RequestedSeconds,
                PtsSeconds = entry.PtsSeconds,
                DurationSeconds = entry.DurationSeconds,
                IsKeyframe = entry.IsKeyframe,
                Approximate = entry.Approximate,
                Width = width,
                Height = height,
                Rgb24 = rgb,
            });
        }

        return result;
    }

    /// <summary>Stores <paramref name="frames"/> under <paramref name="key"/> (nothing is written when the key is already stored).</summary>
    public static Task<ArtifactInfo> PutAsync(ArtifactCache cache, ArtifactKey key, IReadOnlyList<VideoFrame> frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return cache.PutAsync(key, ArtifactKinds.SampledFrames, (stream, ct) => WriteAsync(stream, frames, ct), cancellationToken);
    }

    /// <summary>The frames stored under <paramref name="key"/>, or null when absent (or found damaged).</summary>
    public static async Task<IReadOnlyList<VideoFrame>?> TryGetAsync(ArtifactCache cache, ArtifactKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        await using ArtifactLease? lease = await cache.TryGetAsync(key, cancellationToken);
        if (lease is null)
        {
            return null;
        }

        await using FileStream stream = lease.OpenRead();
        return await ReadAsync(stream, cancellationToken);
    }
}
