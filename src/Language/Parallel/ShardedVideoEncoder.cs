// MM-SP stage 1 (LongVILA, ALGORITHMS.md §4.2): a video's frames are spread evenly over the P devices, each device runs
// the vision tower, HiCo clip merge and projector on its own share (whole clips, so the merge sees the same clips), and
// the features are gathered in frame order. The result equals LlavaOnevisionForConditionalGeneration.EncodeVideos on
// one device.
using VideoLong.Language.Models.LlavaOnevision;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>Encodes video frames with the vision tower replicated over several devices.</summary>
public sealed class ShardedVideoEncoder : IDisposable
{
    private readonly LlavaOnevisionForConditionalGeneration[] _replicas;   // per rank
    private readonly ModelReplicas<LlavaOnevisionForConditionalGeneration> _copies;

    /// <summary>
    /// One rank per entry of <paramref name="devices"/> (repeats allowed). The model's own device uses the model; other
    /// devices get a copy of its weights.
    /// </summary>
    public ShardedVideoEncoder(LlavaOnevisionForConditionalGeneration model, IReadOnlyList<Device> devices)
        : this(model, devices, copyPerRank: false)
    {
    }

    /// <summary>With <paramref name="copyPerRank"/>, every rank gets its own copy of the weights (tests the multi-device path on one CPU).</summary>
    internal ShardedVideoEncoder(LlavaOnevisionForConditionalGeneration model, IReadOnlyList<Device> devices, bool copyPerRank)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.Count < 1)
        {
            throw new SequenceParallelException("Sharded video encoding needs at least one device (one per rank), got none.");
        }

        Model = model;
        Devices = devices.ToArray();
        ScalarType dtype = model.parameters().First().dtype;
        _copies = new ModelReplicas<LlavaOnevisionForConditionalGeneration>(model, devices, copyPerRank, m => m.parameters().First().device,
            d => new LlavaOnevisionForConditionalGeneration(model.Config, d, dtype));
        _replicas = _copies.PerRank;
    }

    public LlavaOnevisionForConditionalGeneration Model { get; }

    /// <summary>The model each rank runs.</summary>
    internal IReadOnlyList<LlavaOnevisionForConditionalGeneration> Replicas => _replicas;

    public IReadOnlyList<Device> Devices { get; }

    /// <summary>
    /// The frames [start, start + count) of each rank: <paramref name="frames"/> split into contiguous shares of whole
    /// clips of <paramref name="clip"/> frames whose sizes differ by at most one clip (earlier ranks take the extra clips).
    /// </summary>
    public static IReadOnlyList<(long Start, long Count)> FrameShares(long frames, int ranks, int clip = 1)
    {
        if (ranks < 1)
        {
            throw new SequenceParallelException($"The number of ranks must be at least 1, got {ranks}.");
        }

        if (clip < 1 || frames < 0 || frames % clip != 0)
        {
            throw new SequenceParallelException($"{frames} frames cannot be split into whole clips of {clip} frames; the frame count must be a multiple of the clip length.");
        }

        long clips = frames / clip;
        var shares = new (long Start, long Count)[ranks];
        long start = 0;
        for (int r = 0; r < ranks; r++)
        {
            long count = ((clips / ranks) + (r < clips % ranks ? 1 : 0)) * clip;
            shares[r] = (start, count);
            start += count;
        }

        return shares;
    }

    /// <summary>
    /// The same as <see cref="LlavaOnevisionForConditionalGeneration.EncodeVideos"/> of <paramref name="pixelValuesVideos"/>
    /// [B, F, 3, S, S] — [B·(F·t + 1), H] on <paramref name="gatherDevice"/> (default: the first rank's) — with each
    /// video's frames spread over the ranks, which encode concurrently (one thread per rank).
    /// </summary>
    public Tensor Encode(Tensor pixelValuesVideos, VlmOptions? options = null, Device? gatherDevice = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pixelValuesVideos);
        if (pixelValuesVideos.ndim != 5)
        {
            throw new SequenceParallelException($"Video pixels must be [B, F, 3, S, S], got [{string.Join(", ", pixelValuesVideos.shape)}].");
        }

        gatherDevice ??= Devices[0];
        long videos = pixelValuesVideos.shape[0], frames = pixelValuesVideos.shape[1];
        if (videos < 1 || frames < 1)
        {
            throw new SequenceParallelException($"Video pixels must hold at least one video of at least one frame, got [{string.Join(", ", pixelValuesVideos.shape)}].");
        }

        int clip = options?.TokensPerFrame is null ? 1 : options.ClipLength;
        IReadOnlyList<(long Start, long Count)> shares = FrameShares(frames, Devices.Count, clip);
        using var scope = NewDisposeScope();
        var pieces = new List<Tensor>();
        for (long i = 0; i < videos; i++)
        {
            Tensor video = pixelValuesVideos.narrow(0, i, 1);                       // [1, F, 3, S, S]
            var tasks = new Task<Tensor?>[Devices.Count];
            for (int r = 0; r < Devices.Count; r++)
            {
                (long start, long count) = shares[r];
                LlavaOnevisionForConditionalGeneration replica = _replicas[r];
                Device device = Devices[r];
                tasks[r] = count == 0
                    ? Task.FromResult<Tensor?>(null)
                    : Task.Run(() =>
                    {
                        using IDisposable noGrad = no_grad();                      // grad mode is per thread
                        using var rankScope = NewDisposeScope();
                        using Tensor share = video.narrow(1, start, count).to(device);   // [1, n, 3, S, S]
                        Tensor features = replica.EncodeVideos(share, options, cancellationToken: cancellationToken);   // [n·t + 1, H]
                        return (Tensor?)features.MoveToOuterDisposeScope();
                    }, cancellationToken);
            }

            Task.WaitAll(tasks, cancellationToken);
            Tensor? newline = null;
            foreach (Task<Tensor?> task in tasks)
            {
                if (task.Result is not { } features)
                {
                    continue;
                }

                Tensor gathered = features.to(gatherDevice);
                features.Dispose();
                pieces.Add(gathered.narrow(0, 0, gathered.shape[0] - 1));          // the share's tokens, [n·t, H]
                newline ??= gathered.narrow(0, gathered.shape[0] - 1, 1);          // the video's newline, [1, H]
            }

            pieces.Add(newline!);
        }

        return cat(pieces, 0).MoveToOuterDisposeScope();                          // [B·(F·t + 1), H]
    }

    public void Dispose() => _copies.Dispose();
}
