// Causal ring attention over zigzag shards (LongVILA MM-SP stage 3, ALGORITHMS.md §4.2; Liu et al., "Ring Attention
// with Blockwise Transformers", and zhuzilin/ring-flash-attention's zigzag variant). All ranks live in this process,
// each on its own device: rank r keeps its queries and starts with its own key/value block; after every step the
// blocks move one rank along the ring (block.to(next rank's device)), P − 1 times, so each rank meets every block once.
// Each visit is computed chunk pair by chunk pair (a chunk pair above the diagonal, or made only of padding, is
// skipped). The fused kernel (default) runs each pair through a flash-attention kernel that also returns the rows'
// log-sum-exp (BlockAttention: causal inside the kernel for a chunk against itself, unmasked below the diagonal) and
// merges the pair's normalised output into the running output by log-sum-exp weights. The explicit kernel computes
// each pair tile by tile with explicit fp32 scores and an online softmax (running max m, running sum l, accumulator
// rescaled by exp(m_old − m_new)): slower and memory-bound, kept as the reference and for devices without the kernels.
// Grouped-query attention (Qwen2): queries [B, heads, ·, D], keys/values [B, kv_heads, ·, D], heads = kv_heads · groups,
// query head h reads key/value head h / groups (as transformers' repeat_kv), without materialising repeated blocks.
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>How a ring step computes its chunk pairs.</summary>
public enum RingAttentionKernel
{
    /// <summary>A fused flash-attention kernel per chunk pair, merged by log-sum-exp (<see cref="BlockAttention"/>).</summary>
    Fused,

    /// <summary>Explicit fp32 score tiles with an online softmax (reference; no fused kernel needed).</summary>
    Explicit,
}

/// <summary>Tuning of <see cref="RingAttention"/>.</summary>
public sealed record RingAttentionOptions
{
    /// <summary>How chunk pairs are computed; tiles and <see cref="Float32Scores"/> apply to <see cref="RingAttentionKernel.Explicit"/> only.</summary>
    public RingAttentionKernel Kernel { get; init; } = RingAttentionKernel.Fused;

    /// <summary>Query rows per tile (bounds the fp32 score buffer: B · heads · QueryTile · KeyTile · 4 bytes).</summary>
    public long QueryTile { get; init; } = 4096;

    /// <summary>Key columns per tile.</summary>
    public long KeyTile { get; init; } = 8192;

    /// <summary>
    /// Compute QKᵀ of half-precision inputs in fp32 (inputs upcast per tile; slower). Off: QKᵀ in the input dtype (as
    /// SDPA's math backend), then fp32 for the softmax. fp32 inputs are exact either way.
    /// </summary>
    public bool Float32Scores { get; init; }

    /// <summary>Softmax scale; null: 1/√D.</summary>
    public double? Scale { get; init; }
}

/// <summary>Causal ring attention with an online softmax over the shards of a <see cref="ZigzagPlan"/>.</summary>
public static class RingAttention
{
    /// <summary>
    /// Attention outputs per rank, [B, heads, LocalLength, D] in the query dtype on the rank's device, in the rank's
    /// zigzag layout. <paramref name="queries"/>[r] is [B, heads, LocalLength, D]; <paramref name="keys"/>[r] and
    /// <paramref name="values"/>[r] are [B, kv_heads, LocalLength, D], all on the same device per rank. Padding keys are
    /// never attended; padding queries get zeros.
    /// </summary>
    public static Tensor[] Forward(ZigzagPlan plan, IReadOnlyList<Tensor> queries, IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values,
        RingAttentionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        options ??= new RingAttentionOptions();
        (long batch, long heads, long kvHeads, long dim) = Validate(plan, queries, keys, values, options);
        if (plan.UlyssesDegree > 1)
        {
            return Hybrid(plan, queries, keys, values, heads, kvHeads, options, cancellationToken);
        }

        if (options.Kernel == RingAttentionKernel.Fused)
        {
            return ForwardFused(plan, queries, keys, values, heads / kvHeads, options.Scale ?? (1.0 / Math.Sqrt(dim)), cancellationToken);
        }

        int p = plan.Ranks;
        long groups = heads / kvHeads;
        double scale = options.Scale ?? (1.0 / Math.Sqrt(dim));

        // Per-rank state: running max and sum [B, kv, g, Lr], output accumulator [B, kv, g, Lr, D], all fp32.
        var state = new (Tensor Q, Tensor Max, Tensor Sum, Tensor Acc)[p];
        try
        {
            for (int r = 0; r < p; r++)
            {
                Device device = queries[r].device;
                Tensor q = (queries[r] * scale).reshape(batch, kvHeads, groups, plan.LocalLength, dim);   // scaled once; [B, heads, Lr, D] -> [B, kv, g, Lr, D]
                state[r] = (q,
                    full([batch, kvHeads, groups, plan.LocalLength], double.NegativeInfinity, ScalarType.Float32, device),
                    zeros([batch, kvHeads, groups, plan.LocalLength], ScalarType.Float32, device),
                    zeros([batch, kvHeads, groups, plan.LocalLength, dim], ScalarType.Float32, device));
            }

            Circulate(plan, queries, keys, values, (rank, k, v, source) =>
            {
                using Tensor k5 = k.unsqueeze(2), v5 = v.unsqueeze(2);                             // [B, kv, Lr, D] -> [B, kv, 1, Lr, D]
                VisitExplicit(plan, rank, (k5, v5, source), state[rank], options);
            }, cancellationToken);

            var outputs = new Tensor[p];
            for (int r = 0; r < p; r++)
            {
                using var scope = NewDisposeScope();
                (Tensor _, Tensor _, Tensor sum, Tensor acc) = state[r];
                Tensor safe = sum.masked_fill(sum.eq(0), 1).unsqueeze(-1);                          // padding queries keep 0 / 1 = 0
                Tensor output = (acc / safe).reshape(batch, heads, plan.LocalLength, dim).to(queries[r].dtype);   // [B, heads, Lr, D]
                outputs[r] = output.MoveToOuterDisposeScope();
            }

            return outputs;
        }
        finally
        {
            foreach ((Tensor q, Tensor max, Tensor sum, Tensor acc) in state)
            {
                q?.Dispose();
                max?.Dispose();
                sum?.Dispose();
                acc?.Dispose();
            }
        }
    }

    /// <summary>
    /// LongVILA's 2D attention: within each Ulysses group (the P_u ranks of one ring rank) an all-to-all scatters the
    /// heads and gathers the sequence, so Ulysses rank u holds heads [u·H/P_u, (u+1)·H/P_u) of ring chunks r and
    /// 2P_r−1−r; the P_u rings (one per head group) run ring attention over <see cref="ZigzagPlan.RingPlan"/>; the reverse
    /// all-to-all gathers the heads and scatters the sequence back. KV heads that P_u does not divide are replicated to
    /// one per query head first (as LongVILA does).
    /// </summary>
    private static Tensor[] Hybrid(ZigzagPlan plan, IReadOnlyList<Tensor> queries, IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values,
        long heads, long kvHeads, RingAttentionOptions options, CancellationToken cancellationToken)
    {
        int pu = plan.UlyssesDegree, pr = plan.RingDegree;
        if (heads % pu != 0)
        {
            throw new SequenceParallelException(
                $"The Ulysses degree {pu} must divide the {heads} attention heads (each Ulysses rank takes heads / P_u of them); use a Ulysses degree that divides {heads}.");
        }

        long c = plan.ChunkSize, headsPerRank = heads / pu;
        bool replicate = kvHeads % pu != 0;
        long kvPerRank = replicate ? headsPerRank : kvHeads / pu;
        ZigzagPlan ring = plan.RingPlan;
        Device DeviceOf(int rank) => queries[rank].device;

        // Ulysses rank j of ring rank r receives head slice j of every group member's shard: [first chunks…, second chunks…].
        Tensor Scatter(IReadOnlyList<Tensor> shards, long perRank, int r, int j)
        {
            using var scope = NewDisposeScope();
            var parts = new Tensor[2 * pu];
            for (int m = 0; m < pu; m++)
            {
                Tensor slice = shards[(r * pu) + m].narrow(1, j * perRank, perRank);
                parts[m] = slice.narrow(2, 0, c).to(DeviceOf((r * pu) + j));
                parts[pu + m] = slice.narrow(2, c, c).to(DeviceOf((r * pu) + j));
            }

            return cat(parts, 2).MoveToOuterDisposeScope();                                    // [B, perRank, 2·P_u·c, D]
        }

        Tensor[]? expandedK = null, expandedV = null;
        var ringOutputs = new Tensor[pu][];
        try
        {
            if (replicate)
            {
                expandedK = keys.Select(k => k.repeat_interleave(heads / kvHeads, 1)).ToArray();
                expandedV = values.Select(v => v.repeat_interleave(heads / kvHeads, 1)).ToArray();
            }

            IReadOnlyList<Tensor> ks = expandedK ?? keys, vs = expandedV ?? values;

            // Every group's all-to-all first, then the rings: a cross-device copy waits for the work already queued on its
            // source device, so scattering group j + 1 after group j's ring was queued would serialise the groups.
            var scattered = new (Tensor[] Q, Tensor[] K, Tensor[] V)[pu];
            try
            {
                for (int j = 0; j < pu; j++)
                {
                    scattered[j] = (new Tensor[pr], new Tensor[pr], new Tensor[pr]);
                    for (int r = 0; r < pr; r++)
                    {
                        scattered[j].Q[r] = Scatter(queries, headsPerRank, r, j);
                        scattered[j].K[r] = Scatter(ks, kvPerRank, r, j);
                        scattered[j].V[r] = Scatter(vs, kvPerRank, r, j);
                    }
                }

                for (int j = 0; j < pu; j++)
                {
                    ringOutputs[j] = Forward(ring, scattered[j].Q, scattered[j].K, scattered[j].V, options, cancellationToken);   // P_r × [B, H/P_u, 2·P_u·c, D]
                }
            }
            finally
            {
                foreach (Tensor? t in scattered.Where(g => g.Q is not null).SelectMany(g => g.Q.Concat(g.K).Concat(g.V)))
                {
                    t?.Dispose();
                }
            }

            // Reverse all-to-all: rank u + r·P_u takes its two chunks from every head group's ring output.
            var outputs = new Tensor[plan.Ranks];
            for (int r = 0; r < pr; r++)
            {
                for (int m = 0; m < pu; m++)
                {
                    using var scope = NewDisposeScope();
                    int rank = (r * pu) + m;
                    Tensor[] headGroups = ringOutputs.Select(o => cat([o[r].narrow(2, m * c, c), o[r].narrow(2, (pu + m) * c, c)], 2).to(DeviceOf(rank))).ToArray();
                    outputs[rank] = cat(headGroups, 1).MoveToOuterDisposeScope();             // [B, H, 2c, D]
                }
            }

            return outputs;
        }
        finally
        {
            foreach (Tensor t in ringOutputs.Where(o => o is not null).SelectMany(o => o).Concat(expandedK ?? []).Concat(expandedV ?? []))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The fused kernel: per rank an fp32 output accumulator [B, heads, Lr, D] and log-sum-exp [B, heads, Lr].</summary>
    private static Tensor[] ForwardFused(ZigzagPlan plan, IReadOnlyList<Tensor> queries, IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values,
        long groups, double scale, CancellationToken cancellationToken)
    {
        int p = plan.Ranks;
        var state = new (Tensor Acc, Tensor Lse)[p];
        try
        {
            for (int r = 0; r < p; r++)
            {
                long[] shape = queries[r].shape;
                state[r] = (zeros(shape, ScalarType.Float32, queries[r].device),
                    full([shape[0], shape[1], shape[2]], double.NegativeInfinity, ScalarType.Float32, queries[r].device));
            }

            Circulate(plan, queries, keys, values, (rank, k, v, source) =>
            {
                using Tensor kr = groups == 1 ? k.alias() : k.repeat_interleave(groups, 1);     // [B, heads, Lr, D]: query head h reads kv head h / groups
                using Tensor vr = groups == 1 ? v.alias() : v.repeat_interleave(groups, 1);
                foreach ((long queryOffset, long rows, long keyOffset, long columns, bool causal) in Pairs(plan, rank, source))
                {
                    using var scope = NewDisposeScope();
                    Tensor q = queries[rank].narrow(2, queryOffset, rows);
                    (Tensor output, Tensor lse) = BlockAttention.Compute(q, kr.narrow(2, keyOffset, columns), vr.narrow(2, keyOffset, columns), causal, scale);
                    Tensor acc = state[rank].Acc.narrow(2, queryOffset, rows);                 // views into the state
                    Tensor running = state[rank].Lse.narrow(2, queryOffset, rows);
                    Tensor merged = running.logaddexp(lse);
                    acc.mul_((running - merged).exp_().unsqueeze(-1)).add_(output.to(ScalarType.Float32).mul_((lse - merged).exp_().unsqueeze(-1)));
                    running.copy_(merged);
                }
            }, cancellationToken);

            var outputs = new Tensor[p];
            for (int r = 0; r < p; r++)
            {
                outputs[r] = state[r].Acc.to(queries[r].dtype);                                 // padding rows were never written: zeros
            }

            return outputs;
        }
        finally
        {
            foreach ((Tensor acc, Tensor lse) in state)
            {
                acc?.Dispose();
                lse?.Dispose();
            }
        }
    }

    /// <summary>
    /// The chunk pairs rank <paramref name="rank"/> computes against the key/value block of rank <paramref name="source"/>,
    /// as local query rows and local key columns without padding: a chunk against itself is causal, a key chunk before the
    /// query chunk is attended whole, pairs above the diagonal or of padding alone are left out. Padding sits at the end of
    /// the sequence, so a key chunk before a query chunk that holds real rows has no padding.
    /// </summary>
    internal static IEnumerable<(long QueryOffset, long Rows, long KeyOffset, long Columns, bool Causal)> Pairs(ZigzagPlan plan, int rank, int source)
    {
        (int q0, int q1) = plan.ChunksOf(rank);
        (int k0, int k1) = plan.ChunksOf(source);
        long c = plan.ChunkSize;
        foreach ((int queryChunk, long queryOffset) in new[] { (q0, 0L), (q1, c) })
        {
            long rows = Math.Min(c, plan.Length - (queryChunk * c));
            if (rows <= 0)
            {
                continue;
            }

            foreach ((int keyChunk, long keyOffset) in new[] { (k0, 0L), (k1, c) })
            {
                if (keyChunk <= queryChunk)
                {
                    yield return (queryOffset, rows, keyOffset, keyChunk == queryChunk ? rows : c, keyChunk == queryChunk);
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="visit"/>(rank, keys, values, source rank) for every rank and every key/value block: each rank
    /// starts with its own block; after each step every block moves to the next rank of the ring, P − 1 times.
    /// </summary>
    private static void Circulate(ZigzagPlan plan, IReadOnlyList<Tensor> queries, IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values,
        Action<int, Tensor, Tensor, int> visit, CancellationToken cancellationToken)
    {
        int p = plan.Ranks;
        var blocks = new (Tensor K, Tensor V, int Source)[p];
        try
        {
            for (int r = 0; r < p; r++)
            {
                blocks[r] = (keys[r].alias(), values[r].alias(), r);
            }

            using (no_grad())
            {
                for (int step = 0; step < p; step++)
                {
                    for (int r = 0; r < p; r++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        visit(r, blocks[r].K, blocks[r].V, blocks[r].Source);
                    }

                    if (step == p - 1)
                    {
                        break;
                    }

                    // Pass every key/value block to the next rank of the ring (rank r's block goes to rank r + 1).
                    var moved = new (Tensor K, Tensor V, int Source)[p];
                    for (int r = 0; r < p; r++)
                    {
                        int next = (r + 1) % p;
                        Device target = queries[next].device;
                        moved[next] = (blocks[r].K.to(target), blocks[r].V.to(target), blocks[r].Source);
                    }

                    for (int r = 0; r < p; r++)
                    {
                        blocks[r].K.Dispose();
                        blocks[r].V.Dispose();
                    }

                    blocks = moved;
                }
            }
        }
        finally
        {
            foreach ((Tensor k, Tensor v, int _) in blocks)
            {
                k?.Dispose();
                v?.Dispose();
            }
        }
    }

    /// <summary>The explicit kernel: the tiles rank <paramref name="rank"/> computes against the block of <paramref name="block"/>.Source.</summary>
    private static void VisitExplicit(ZigzagPlan plan, int rank, (Tensor K, Tensor V, int Source) block, (Tensor Q, Tensor Max, Tensor Sum, Tensor Acc) state,
        RingAttentionOptions options)
    {
        (int q0, int q1) = plan.ChunksOf(rank);
        (int k0, int k1) = plan.ChunksOf(block.Source);
        long c = plan.ChunkSize;
        foreach ((int queryChunk, long queryOffset) in new[] { (q0, 0L), (q1, c) })
        {
            foreach ((int keyChunk, long keyOffset) in new[] { (k0, 0L), (k1, c) })
            {
                long queryStart = queryChunk * c, keyStart = keyChunk * c;
                if (keyChunk > queryChunk || keyStart >= plan.Length || queryStart >= plan.Length)
                {
                    continue;   // above the diagonal, or only padding keys / padding queries
                }

                for (long qt = 0; qt < c; qt += options.QueryTile)
                {
                    long tq = Math.Min(options.QueryTile, c - qt);
                    long qFirst = queryStart + qt, qLast = qFirst + tq - 1;     // global rows of the tile
                    if (qFirst >= plan.Length)
                    {
                        break;
                    }

                    for (long kt = 0; kt < c; kt += options.KeyTile)
                    {
                        long tk = Math.Min(options.KeyTile, c - kt);
                        long kFirst = keyStart + kt, kLast = kFirst + tk - 1;
                        if (kFirst > qLast || kFirst >= plan.Length)
                        {
                            break;  // this tile and the ones after it are above the diagonal or padding
                        }

                        bool masked = kLast > qFirst || kLast >= plan.Length || qLast >= plan.Length;   // crosses the diagonal or holds padding
                        Tile(state, block, queryOffset + qt, tq, keyOffset + kt, tk, masked ? (qFirst, kFirst, plan.Length) : null, options.Float32Scores);
                    }
                }
            }
        }
    }

    /// <summary>One tile of the online softmax: local query rows [qo, qo + tq) against local key columns [ko, ko + tk) of the block.</summary>
    private static void Tile((Tensor Q, Tensor Max, Tensor Sum, Tensor Acc) state, (Tensor K, Tensor V, int Source) block, long qo, long tq, long ko, long tk,
        (long QueryFirst, long KeyFirst, long Length)? mask, bool float32Scores)
    {
        using var scope = NewDisposeScope();
        Tensor q = state.Q.narrow(3, qo, tq);                                       // [B, kv, g, tq, D]
        Tensor k = block.K.narrow(3, ko, tk);                                       // [B, kv, 1, tk, D]
        Tensor v = block.V.narrow(3, ko, tk);                                       // [B, kv, 1, tk, D]
        Tensor scores = float32Scores && q.dtype != ScalarType.Float32
            ? q.to(ScalarType.Float32).matmul(k.to(ScalarType.Float32).transpose(3, 4))   // [B, kv, g, tq, tk] fp32 (q carries the scale)
            : q.matmul(k.transpose(3, 4)).to(ScalarType.Float32);
        if (mask is { } m)
        {
            Device device = scores.device;
            Tensor rows = arange(m.QueryFirst, m.QueryFirst + tq, ScalarType.Int64, device).view(tq, 1);   // [tq, 1] global
            Tensor columns = arange(m.KeyFirst, m.KeyFirst + tk, ScalarType.Int64, device).view(1, tk);    // [1, tk] global
            Tensor allowed = columns.le(rows).logical_and(columns.lt(m.Length)).logical_and(rows.lt(m.Length));   // [tq, tk]; padding rows attend nothing
            scores.masked_fill_(allowed.logical_not(), double.NegativeInfinity);
        }

        Tensor max = state.Max.narrow(3, qo, tq);                                   // [B, kv, g, tq] views into the state
        Tensor sum = state.Sum.narrow(3, qo, tq);
        Tensor acc = state.Acc.narrow(3, qo, tq);                                   // [B, kv, g, tq, D]
        Tensor newMax = maximum(max, scores.amax([-1L]));                          // [B, kv, g, tq]
        Tensor safeMax = newMax.masked_fill(newMax.isneginf(), 0);                 // rows with nothing attended yet stay finite
        Tensor weights = scores.sub_(safeMax.unsqueeze(-1)).exp_();              // in place: [B, kv, g, tq, tk], masked → 0
        Tensor rescale = (max - safeMax).exp_();                                   // exp(m_old − m_new); −inf → 0
        sum.mul_(rescale).add_(weights.sum([-1L]));
        Tensor contribution = v.dtype == ScalarType.Float32
            ? weights.matmul(v)                                                    // [B, kv, g, tq, D]
            : weights.to(v.dtype).matmul(v).to(ScalarType.Float32);
        acc.mul_(rescale.unsqueeze(-1)).add_(contribution);
        max.copy_(newMax);
    }

    private static (long Batch, long Heads, long KvHeads, long Dim) Validate(ZigzagPlan plan, IReadOnlyList<Tensor> queries, IReadOnlyList<Tensor> keys,
        IReadOnlyList<Tensor> values, RingAttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        if (queries.Count != plan.Ranks || keys.Count != plan.Ranks || values.Count != plan.Ranks)
        {
            throw new SequenceParallelException(
                $"The plan has {plan.Ranks} ranks; got {queries.Count} query, {keys.Count} key and {values.Count} value shards. Give one of each per rank.");
        }

        if (options.QueryTile < 1 || options.KeyTile < 1)
        {
            throw new SequenceParallelException($"Ring attention tiles must be at least 1×1, got {options.QueryTile}×{options.KeyTile}.");
        }

        Tensor first = queries[0];
        if (first.ndim != 4)
        {
            throw new SequenceParallelException($"Queries must be [B, heads, L/P, D], got [{string.Join(", ", first.shape)}].");
        }

        long batch = first.shape[0], heads = first.shape[1], dim = first.shape[3];
        long kvHeads = keys[0].ndim == 4 ? keys[0].shape[1] : -1;
        if (kvHeads < 1 || heads % kvHeads != 0)
        {
            throw new SequenceParallelException(
                $"Keys must be [B, kv_heads, L/P, D] with kv_heads dividing the {heads} query heads, got [{string.Join(", ", keys[0].shape)}].");
        }

        for (int r = 0; r < plan.Ranks; r++)
        {
            long[] q = [batch, heads, plan.LocalLength, dim];
            long[] kv = [batch, kvHeads, plan.LocalLength, dim];
            if (!queries[r].shape.SequenceEqual(q) || !keys[r].shape.SequenceEqual(kv) || !values[r].shape.SequenceEqual(kv))
            {
                throw new SequenceParallelException(
                    $"Rank {r}: queries [{string.Join(", ", queries[r].shape)}], keys [{string.Join(", ", keys[r].shape)}], values [{string.Join(", ", values[r].shape)}]; " +
                    $"expected [{string.Join(", ", q)}] and [{string.Join(", ", kv)}] (each shard holds LocalLength = {plan.LocalLength} tokens).");
            }

            if (!SameDevice(keys[r].device, queries[r].device) || !SameDevice(values[r].device, queries[r].device))
            {
                throw new SequenceParallelException($"Rank {r}: queries, keys and values must be on one device, got {queries[r].device}, {keys[r].device}, {values[r].device}.");
            }
        }

        return (batch, heads, kvHeads, dim);
    }

    /// <summary>Same device type and index ("cuda" without an index counts as cuda:0).</summary>
    internal static bool SameDevice(Device a, Device b) =>
        a.type == b.type && (a.type == TorchSharp.DeviceType.CPU || Math.Max(a.index, (long)0) == Math.Max(b.index, (long)0));
}
