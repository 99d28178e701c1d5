// Zigzag sharding of a token sequence for causal ring attention (LongVILA MM-SP stage 2, ALGORITHMS.md §4.2):
// the sequence of length L is padded at its end to a multiple of 2P, cut into 2P equal chunks, and rank r holds
// chunks r and 2P−1−r (in that order). Each rank then has one "early" and one "late" chunk, so the causal work
// (query/key pairs with key ≤ query) is the same on every rank. Padding is never attended to and never counted.
// With a Ulysses degree P_u > 1 (LongVILA's 2D attention: P = P_u × P_r, sp_rank = ulysses_rank + ring_rank·P_u) rank
// (u, r) holds chunks r·P_u + u and (2P_r−1−r)·P_u + u: after the Ulysses all-to-all (heads scattered, sequence gathered
// over the P_u ranks of ring rank r) every Ulysses rank holds ring chunks r and 2P_r−1−r of a zigzag plan over P_r ring
// ranks with chunks P_u times as long (RingPlan), in order, and the ring runs on that.
// Reference: NVlabs/VILA llava/train/sequence_parallel (zigzag_ring_varlen, hybrid_attn), zhuzilin/ring-flash-attention.
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>Maps global token positions ↔ (rank, local index) for <see cref="Ranks"/> zigzag shards of a sequence.</summary>
public sealed class ZigzagPlan
{
    private ZigzagPlan(long length, int ranks, int ulysses, long chunkSize)
    {
        Length = length;
        Ranks = ranks;
        UlyssesDegree = ulysses;
        ChunkSize = chunkSize;
        PaddedLength = ChunkSize * 2 * ranks;
    }

    /// <summary>P, the number of shards (devices).</summary>
    public int Ranks { get; }

    /// <summary>P_u, the ranks of one Ulysses group (heads scattered over them); 1 = ring only.</summary>
    public int UlyssesDegree { get; }

    /// <summary>P_r = P / P_u, the ranks of one ring.</summary>
    public int RingDegree => Ranks / UlyssesDegree;

    /// <summary>
    /// The plan the rings run on after the Ulysses all-to-all: P_r ranks, chunks of P_u · <see cref="ChunkSize"/> tokens
    /// (this plan itself when P_u = 1).
    /// </summary>
    public ZigzagPlan RingPlan => UlyssesDegree == 1 ? this : new ZigzagPlan(Length, RingDegree, 1, ChunkSize * UlyssesDegree);

    /// <summary>L, the real sequence length.</summary>
    public long Length { get; }

    /// <summary>L rounded up to a multiple of 2P; positions ≥ <see cref="Length"/> are padding.</summary>
    public long PaddedLength { get; }

    /// <summary>Padding tokens added at the end of the sequence (fewer than 2P).</summary>
    public long Padding => PaddedLength - Length;

    /// <summary>Tokens per chunk: PaddedLength / 2P.</summary>
    public long ChunkSize { get; }

    /// <summary>Tokens each rank holds: two chunks.</summary>
    public long LocalLength => 2 * ChunkSize;

    /// <summary>
    /// A plan for <paramref name="length"/> tokens over <paramref name="ranks"/> shards. Only causal attention is
    /// supported (zigzag balances causal work; a bidirectional encoder needs no zigzag).
    /// </summary>
    public static ZigzagPlan Create(long length, int ranks, bool causal = true, int ulysses = 1)
    {
        if (!causal)
        {
            throw new SequenceParallelException(
                "Zigzag sequence parallelism supports causal attention only (it balances the causal mask); got a non-causal request. Use causal: true.");
        }

        if (ranks < 1)
        {
            throw new SequenceParallelException($"The number of sequence-parallel ranks must be at least 1, got {ranks}.");
        }

        if (length < 1)
        {
            throw new SequenceParallelException($"The sequence to shard must hold at least one token, got {length}.");
        }

        if (length < 2L * ranks)
        {
            throw new SequenceParallelException(
                $"A sequence of {length} tokens cannot be cut into 2·P = {2L * ranks} zigzag chunks of at least one real token each; use at most {length / 2} ranks for it (P ≤ L/2), or a longer sequence.");
        }

        if (ulysses < 1 || ranks % ulysses != 0)
        {
            throw new SequenceParallelException(
                $"The Ulysses degree must be at least 1 and divide the {ranks} sequence-parallel ranks (P = P_u × P_r), got {ulysses}.");
        }

        return new ZigzagPlan(length, ranks, ulysses, (length + (2L * ranks) - 1) / (2L * ranks));
    }

    /// <summary>
    /// The two chunk numbers rank <paramref name="rank"/> holds, in local order: r and 2P−1−r; with Ulysses, for rank
    /// u + r·P_u, r·P_u + u and (2P_r−1−r)·P_u + u.
    /// </summary>
    public (int First, int Second) ChunksOf(int rank)
    {
        CheckRank(rank);
        int u = rank % UlyssesDegree, r = rank / UlyssesDegree;
        return ((r * UlyssesDegree) + u, (((2 * RingDegree) - 1 - r) * UlyssesDegree) + u);
    }

    /// <summary>The global index (0 … PaddedLength − 1) of local index <paramref name="local"/> on <paramref name="rank"/>.</summary>
    public long GlobalIndex(int rank, long local)
    {
        CheckRank(rank);
        if (local < 0 || local >= LocalLength)
        {
            throw new SequenceParallelException($"Local index {local} is outside a shard of {LocalLength} tokens (0 … {LocalLength - 1}).");
        }

        (int first, int second) = ChunksOf(rank);
        int chunk = local < ChunkSize ? first : second;
        return (chunk * ChunkSize) + (local % ChunkSize);
    }

    /// <summary>Which rank holds global index <paramref name="global"/> (padding included) and at which local index.</summary>
    public (int Rank, long Local) Locate(long global)
    {
        if (global < 0 || global >= PaddedLength)
        {
            throw new SequenceParallelException($"Global index {global} is outside the padded sequence of {PaddedLength} tokens (0 … {PaddedLength - 1}).");
        }

        long chunk = global / ChunkSize;
        long offset = global % ChunkSize;
        int u = (int)(chunk % UlyssesDegree), ringChunk = (int)(chunk / UlyssesDegree);
        return ringChunk < RingDegree
            ? ((ringChunk * UlyssesDegree) + u, offset)
            : (((((2 * RingDegree) - 1 - ringChunk) * UlyssesDegree) + u), ChunkSize + offset);
    }

    /// <summary>The global indices of rank <paramref name="rank"/>'s tokens in local order: [LocalLength] int64.</summary>
    public Tensor GlobalIndices(int rank, Device? device = null)
    {
        (int first, int second) = ChunksOf(rank);
        using Tensor a = arange(first * ChunkSize, (first + 1) * ChunkSize, ScalarType.Int64, device);
        using Tensor b = arange(second * ChunkSize, (second + 1) * ChunkSize, ScalarType.Int64, device);
        return cat([a, b], 0);
    }

    /// <summary>Causal (query, key) pairs with key ≤ query, both real, whose query rank <paramref name="rank"/> holds.</summary>
    public long CausalPairs(int rank)
    {
        (int first, int second) = ChunksOf(rank);
        return PairsOfChunk(first) + PairsOfChunk(second);
    }

    /// <summary>
    /// Pads <paramref name="sequence"/> along <paramref name="dim"/> (its size must be <see cref="Length"/>) with
    /// <paramref name="padValue"/> and cuts it into the P shards, each moved to <paramref name="devices"/>[r] when given.
    /// </summary>
    public Tensor[] Shard(Tensor sequence, int dim, IReadOnlyList<Device>? devices = null, double padValue = 0)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        int d = dim < 0 ? (int)sequence.ndim + dim : dim;
        if (d < 0 || d >= sequence.ndim)
        {
            throw new SequenceParallelException($"Dimension {dim} does not exist in a tensor of {sequence.ndim} dimensions.");
        }

        if (sequence.shape[d] != Length)
        {
            throw new SequenceParallelException(
                $"The plan is for {Length} tokens but the tensor has {sequence.shape[d]} along dimension {d}; shard tensors of exactly the planned length.");
        }

        if (devices is not null && devices.Count != Ranks)
        {
            throw new SequenceParallelException($"The plan has {Ranks} ranks but {devices.Count} devices were given; give one device per rank.");
        }

        using var scope = NewDisposeScope();
        Tensor padded = sequence;
        if (Padding > 0)
        {
            long[] padShape = sequence.shape.ToArray();
            padShape[d] = Padding;
            Tensor pad = full(padShape, padValue, sequence.dtype, sequence.device);
            padded = cat([sequence, pad], d);
        }

        var shards = new Tensor[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            (int first, int second) = ChunksOf(r);
            Tensor shard = cat([padded.narrow(d, first * ChunkSize, ChunkSize), padded.narrow(d, second * ChunkSize, ChunkSize)], d);
            if (devices is not null)
            {
                shard = shard.to(devices[r]);
            }

            shards[r] = shard.contiguous().MoveToOuterDisposeScope();
        }

        return shards;
    }

    /// <summary>
    /// Puts the shards back in global order along <paramref name="dim"/> on <paramref name="device"/> (default: the
    /// first shard's) and drops the padding: the inverse of <see cref="Shard"/>.
    /// </summary>
    public Tensor Gather(IReadOnlyList<Tensor> shards, int dim, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count != Ranks)
        {
            throw new SequenceParallelException($"The plan has {Ranks} ranks but {shards.Count} shards were given.");
        }

        int d = dim < 0 ? (int)shards[0].ndim + dim : dim;
        for (int r = 0; r < Ranks; r++)
        {
            if (d < 0 || d >= shards[r].ndim || shards[r].shape[d] != LocalLength)
            {
                throw new SequenceParallelException(
                    $"Shard {r} has shape [{string.Join(", ", shards[r].shape)}]; every shard needs {LocalLength} tokens along dimension {dim}.");
            }
        }

        device ??= shards[0].device;
        using var scope = NewDisposeScope();
        var chunks = new Tensor[2 * Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            (int first, int second) = ChunksOf(r);
            Tensor local = shards[r].to(device);
            chunks[first] = local.narrow(d, 0, ChunkSize);
            chunks[second] = local.narrow(d, ChunkSize, ChunkSize);
        }

        return cat(chunks, d).narrow(d, 0, Length).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Real causal pairs whose query lies in chunk <paramref name="chunk"/>: Σ over real queries q of (q + 1).</summary>
    private long PairsOfChunk(int chunk)
    {
        long start = chunk * ChunkSize;
        long end = Math.Min(start + ChunkSize, Length);   // real queries [start, end)
        return end <= start ? 0 : ((end * (end + 1)) - (start * (start + 1))) / 2;
    }

    private void CheckRank(int rank)
    {
        if (rank < 0 || rank >= Ranks)
        {
            throw new SequenceParallelException($"Rank {rank} does not exist in a plan of {Ranks} ranks (0 … {Ranks - 1}).");
        }
    }
}
