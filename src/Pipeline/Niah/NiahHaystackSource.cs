using System.Security.Cryptography;
using System.Text.Json;
using NetVips;
using VideoLong.Ingest;
using VideoLong.Ingest.Tools;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Niah;

/// <summary>Where a haystack's frames came from, recorded with every result.</summary>
public sealed record NiahHaystackProvenance
{
    public required string Source { get; init; }

    /// <summary>"ffmpeg 5.1.6 (…)" for a decoded video; "frames folder (libvips 8.x)" for a folder written by <c>videolong frames</c>.</summary>
    public required string Decoder { get; init; }

    public required string Sampling { get; init; }

    /// <summary>Presentation timestamps of the encoded haystack frames, in seconds.</summary>
    public required IReadOnlyList<double> SampledTimestamps { get; init; }

    /// <summary>Haystack frames encoded; longer haystacks tile them (VideoChat-Flash).</summary>
    public required int EncodedFrames { get; init; }
}

/// <summary>
/// A NIAH haystack: a video decoded through Ingest at a fixed rate, or a folder of frames written by
/// <c>videolong frames --out DIR</c> (read with libvips; the GPU host has no ffmpeg). Frames come resized to the encoder's square.
/// </summary>
public abstract class NiahHaystackSource
{
    /// <summary>SHA-256 (hex) of the content; with <see cref="Sampling"/> part of the haystack cache key.</summary>
    public abstract string ContentHash { get; }

    /// <summary>Frames the source offers.</summary>
    public abstract int AvailableFrames { get; }

    public abstract string Description { get; }

    /// <summary>"fps=1" or the folder's strategy.</summary>
    public abstract string Sampling { get; }

    public abstract string Decoder { get; }

    /// <summary>Timestamps of the first <paramref name="count"/> frames.</summary>
    public abstract IReadOnlyList<double> Timestamps(int count);

    /// <summary>The first <paramref name="count"/> frames, as <paramref name="size"/>² RGB.</summary>
    public abstract IAsyncEnumerable<VideoFrame> ReadAsync(int count, int size, CancellationToken cancellationToken);

    public static async Task<NiahHaystackSource> OpenAsync(NiahConfig config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        NiahHaystack haystack = config.Haystack ?? throw new VideoLongException("Invalid NIAH config: no haystack.");
        if (haystack.Frames is { } folder)
        {
            return FramesFolderHaystack.Open(config.Resolve(folder));
        }

        return await VideoHaystack.OpenAsync(config.Resolve(haystack.Video!), haystack.Fps, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A video decoded at a fixed rate from its start (every published V-NIAH haystack is 1 fps).</summary>
internal sealed class VideoHaystack : NiahHaystackSource
{
    private readonly VideoDecoder _decoder;
    private readonly SamplePlan _plan;
    private readonly string _hash;
    private readonly string _version;

    private VideoHaystack(VideoDecoder decoder, SamplePlan plan, string hash, string version)
    {
        _decoder = decoder;
        _plan = plan;
        _hash = hash;
        _version = version;
    }

    public override string ContentHash => _hash;

    public override int AvailableFrames => _plan.Count;

    public override string Description => _decoder.Metadata.Path;

    public override string Sampling => _plan.Strategy;

    public override string Decoder => $"{_version}; codec {_decoder.Metadata.Codec}";

    public static async Task<VideoHaystack> OpenAsync(string path, double fps, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new VideoLongException($"NIAH haystack video '{path}' does not exist (bash scripts/setup.sh makes samples/media/vtest.avi).");
        }

        VideoDecoder decoder = await VideoDecoder.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        SamplePlan plan = FrameSamplers.Fps(decoder.Metadata.Timeline, fps);
        if (plan.Count == 0)
        {
            throw new VideoLongException($"NIAH haystack '{path}' gives no frames at {fps} fps.");
        }

        string hash = await Artifacts.ContentHash.OfFileAsync(path, cancellationToken).ConfigureAwait(false);
        string version = (await MediaTools.GetVersionAsync(MediaTools.Ffmpeg, cancellationToken).ConfigureAwait(false)).Split(" Copyright", 2)[0].Trim();
        return new VideoHaystack(decoder, plan, hash, version);
    }

    public override IReadOnlyList<double> Timestamps(int count) => _plan.Frames.Take(count).Select(f => f.RequestedSeconds).ToArray();

    public override async IAsyncEnumerable<VideoFrame> ReadAsync(int count, int size, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        SamplePlan head = _plan with { Frames = _plan.Frames.Take(count).ToArray() };
        var frames = new List<VideoFrame>(head.Count);
        await foreach (VideoFrame frame in _decoder.DecodeAsync(head, FrameFormat.Model(size, size, ResizeMode.Stretch), null, cancellationToken).ConfigureAwait(false))
        {
            frames.Add(frame);
        }

        foreach (VideoFrame frame in frames.OrderBy(f => f.SampleIndex))
        {
            yield return frame;
        }
    }
}

/// <summary>A folder written by <c>videolong frames --out DIR</c>: manifest.json (frames in sample order) and the image files.</summary>
internal sealed class FramesFolderHaystack : NiahHaystackSource
{
    private readonly string _folder;
    private readonly (string File, double Seconds)[] _frames;
    private readonly string _hash;
    private readonly string _strategy;

    private FramesFolderHaystack(string folder, (string, double)[] frames, string hash, string strategy)
    {
        _folder = folder;
        _frames = frames;
        _hash = hash;
        _strategy = strategy;
    }

    public override string ContentHash => _hash;

    public override int AvailableFrames => _frames.Length;

    public override string Description => _folder;

    public override string Sampling => _strategy;

    public override string Decoder => $"frames folder read with libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)}.{NetVips.NetVips.Version(2)}";

    public static FramesFolderHaystack Open(string folder)
    {
        string manifestPath = Path.Combine(folder, "manifest.json");
        if (!File.Exists(manifestPath))
        {
            throw new VideoLongException($"NIAH haystack folder '{folder}' has no manifest.json; write one with `videolong frames VIDEO --fps 1 --out {folder}`.");
        }

        byte[] bytes = File.ReadAllBytes(manifestPath);
        var frames = new List<(string, double)>();
        string strategy;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(bytes);
            strategy = doc.RootElement.TryGetProperty("strategy", out JsonElement s) ? s.GetString() ?? "" : "";
            JsonElement list = doc.RootElement.GetProperty("frames");
            foreach (JsonElement f in list.EnumerateArray().OrderBy(f => f.GetProperty("sampleIndex").GetInt32()))
            {
                string file = f.GetProperty("file").GetString() ?? "";
                if (file.Length == 0 || Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal))
                {
                    throw new VideoLongException($"NIAH haystack manifest '{manifestPath}' names an invalid frame file '{file}'.");
                }

                frames.Add((file, f.GetProperty("ptsSeconds").GetDouble()));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new VideoLongException($"NIAH haystack manifest '{manifestPath}' is not a `videolong frames` manifest: {e.Message}", e);
        }

        if (frames.Count == 0)
        {
            throw new VideoLongException($"NIAH haystack manifest '{manifestPath}' lists no frames.");
        }

        // The manifest names every frame with its timestamp and size; the files' sizes catch a regenerated folder.
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(bytes);
        foreach ((string file, _) in frames)
        {
            var info = new FileInfo(Path.Combine(folder, file));
            if (!info.Exists)
            {
                throw new VideoLongException($"NIAH haystack folder '{folder}' lacks the frame file '{file}' its manifest lists.");
            }

            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{file}:{info.Length};"));
        }

        return new FramesFolderHaystack(folder, frames.ToArray(), Convert.ToHexStringLower(hash.GetHashAndReset()), strategy);
    }

    public override IReadOnlyList<double> Timestamps(int count) => _frames.Take(count).Select(f => f.Seconds).ToArray();

    public override async IAsyncEnumerable<VideoFrame> ReadAsync(int count, int size, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (int i = 0; i < Math.Min(count, _frames.Length); i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            (string file, double seconds) = _frames[i];
            using Image image = Image.NewFromFile(Path.Combine(_folder, file), access: Enums.Access.Sequential);
            (byte[] rgb, int w, int h) = NiahFrames.ToRgb(image);
            yield return NiahFrames.FromRgb(rgb, w, h, size, i, seconds);
            await Task.Yield();
        }
    }
}
