using System.Collections.Concurrent;
using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Ingest;
using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// The prepare stage: probe, plan, decode and sample a video into a <see cref="SampledFramesArtifact"/>, keyed by the
/// source's content hash, the sampling settings and the frame size. A stored artifact is reused without decoding.
/// </summary>
public sealed class FramePreparer(ArtifactCache cache)
{
    // Duration of each source this process has probed, by content hash (the time prompt needs it on a cache hit too).
    private readonly ConcurrentDictionary<string, double> _durations = new(StringComparer.Ordinal);

    private VideoDecoder Remember(string sha256, VideoDecoder decoder)
    {
        _durations[sha256] = decoder.Metadata.DurationSeconds;
        return decoder;
    }

    public async Task<VideoPrepared> PrepareAsync(PrepareVideo command, Func<int, int, Task>? onFrame, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentOutOfRangeException.ThrowIfLessThan(command.FrameSize, 1);
        string path = command.Source.Uri.IsFile ? command.Source.Uri.LocalPath : throw new VideoLongException($"Source '{command.Source.Uri}' is not a local file.");
        ArtifactKey key = KeyFor(command);
        await using (ArtifactLease? lease = await cache.TryGetAsync(key, cancellationToken).ConfigureAwait(false))
        {
            if (lease is not null)
            {
                // A cache hit decodes nothing, and once this process knows the source's duration it does not even probe it.
                double duration = _durations.TryGetValue(command.Source.Sha256, out double known)
                    ? known
                    : Remember(command.Source.Sha256, await VideoDecoder.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false)).Metadata.DurationSeconds;
                return Prepared(command, key, lease.Info, duration, await ReadTimestampsAsync(lease, cancellationToken).ConfigureAwait(false), fromCache: true);
            }
        }

        VideoDecoder decoder = Remember(command.Source.Sha256, await VideoDecoder.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false));

        SamplePlan plan = PlanFor(decoder.Metadata, command.Sampling);
        var frames = new List<VideoFrame>(plan.Count);
        await foreach (VideoFrame frame in decoder.DecodeAsync(plan, FrameFormat.Model(command.FrameSize, command.FrameSize, ResizeMode.Stretch), null, cancellationToken).ConfigureAwait(false))
        {
            frames.Add(frame);
            if (onFrame is not null)
            {
                await onFrame(frames.Count, plan.Count).ConfigureAwait(false);
            }
        }

        frames.Sort((a, b) => a.SampleIndex.CompareTo(b.SampleIndex));
        ArtifactInfo info = await SampledFramesArtifact.PutAsync(cache, key, frames, cancellationToken).ConfigureAwait(false);
        return Prepared(command, key, info, decoder.Metadata.DurationSeconds, frames.Select(f => f.PtsSeconds).ToArray(), fromCache: false);
    }

    /// <summary>The cache key of the frames: source hash + every sampling setting + frame size and resize.</summary>
    public static ArtifactKey KeyFor(PrepareVideo command)
    {
        SamplingSettings s = command.Sampling;
        return ArtifactKey.For(command.Source.Sha256, ArtifactKinds.SampledFrames)
            .Add("sampling.strategy", s.Strategy)
            .Add("sampling.fps", s.Fps ?? 0)
            .Add("sampling.count", s.FrameCount ?? 0)
            .Add("sampling.start", s.StartSeconds)
            .Add("sampling.end", s.EndSeconds ?? -1)
            .Add("sampling.clip", s.ClipLength)
            .Add("sampling.min", s.MinFrames)
            .Add("sampling.max", s.MaxFrames)
            .Add("sampling.max-fps", s.MaxFps)
            .Add("frame.size", command.FrameSize)
            .Add("frame.resize", ResizeMode.Stretch)
            .Build();
    }

    /// <summary>The sample plan the settings ask for (out-of-range samples repeat the last frame).</summary>
    public static SamplePlan PlanFor(VideoMetadata metadata, SamplingSettings s)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(s);
        VideoTimeline timeline = metadata.Timeline;
        const OutOfRangePolicy Policy = OutOfRangePolicy.RepeatLast;
        TimeRange? range = s.StartSeconds == 0 && s.EndSeconds is null ? null : new TimeRange(s.StartSeconds, s.EndSeconds ?? metadata.DurationSeconds);
        return s.Strategy switch
        {
            SamplingStrategy.Uniform => FrameSamplers.Uniform(timeline, s.FrameCount ?? throw new VideoLongException("Uniform sampling needs a frame count."), range, Policy),
            SamplingStrategy.Fps => FrameSamplers.Fps(timeline, s.Fps ?? throw new VideoLongException("Fps sampling needs a rate."), range, Policy),
            SamplingStrategy.DynamicFps => FrameSamplers.DynamicFps1(timeline, s.ClipLength, s.MinFrames, s.MaxFrames, range, Policy),
            SamplingStrategy.LongVila => FrameSamplers.LongVila(timeline, s.FrameCount ?? throw new VideoLongException("LongVILA sampling needs a frame count."), s.MaxFps, range, Policy),
            SamplingStrategy.Keyframes => FrameSamplers.Keyframes(timeline, range, s.FrameCount, Policy),
            _ => throw new VideoLongException($"Unknown sampling strategy {s.Strategy}."),
        };
    }

    private static VideoPrepared Prepared(PrepareVideo command, ArtifactKey key, ArtifactInfo info, double duration, double[] timestamps, bool fromCache) => new()
    {
        JobId = command.JobId,
        Timestamp = DateTimeOffset.UtcNow,
        Frames = ArtifactRefs.For(key, info),
        FrameCount = timestamps.Length,
        DurationSeconds = duration,
        FrameTimestamps = timestamps,
        FromCache = fromCache,
    };

    // Only the header is read: the manifest holds each frame's timestamp, so a cache hit touches no pixels.
    private static async Task<double[]> ReadTimestampsAsync(ArtifactLease lease, CancellationToken cancellationToken)
    {
        await using FileStream stream = lease.OpenRead();
        SafetensorsHeader header = await SafetensorsHeader.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        FrameManifestEntry[] manifest = JsonSerializer.Deserialize<FrameManifestEntry[]>(header.Metadata.GetValueOrDefault("manifest", "[]")) ?? [];
        return manifest.OrderBy(e => e.SampleIndex).Select(e => e.PtsSeconds).ToArray();
    }
}
