// Sequence-parallel prefill of Qwen2 (LongVILA MM-SP stages 2–3, ALGORITHMS.md §4.2) inside one process: the token
// sequence is sharded zigzag over P ranks, one device each (cpu, cuda:0, cuda:1, …), with a replica of the weights per
// device. Every decoder layer runs per rank on the rank's tokens (norms, projections, rotary embeddings at the tokens'
// GLOBAL positions — V2PE float positions included — MLP), except attention, which is causal ring attention across the
// ranks (with UlyssesDegree > 1, LongVILA's 2D attention). With keepKvCache the prefill keeps every layer's rotated
// keys and values on their ranks — a distributed KV cache — and SequenceParallelDecoding generates from it: each new
// token attends to every rank's cached block where it lies (fused attention with log-sum-exp, merged on one device).
using TorchSharp;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>The result of a sequence-parallel prefill: per-rank final hidden states and the last position's logits.</summary>
public sealed class SequenceParallelPrefill : IDisposable
{
    public required ZigzagPlan Plan { get; init; }

    /// <summary>Per rank: hidden states after the final norm, [B, LocalLength, H] on the rank's device, zigzag layout.</summary>
    public required IReadOnlyList<Tensor> Hidden { get; init; }

    /// <summary>The logits of the last real position, [B, V] float32 on the device of the rank that holds it.</summary>
    public required Tensor LastLogits { get; init; }

    /// <summary>The position (float, V2PE included) of the last real token, [B], on the device of <see cref="LastLogits"/>.</summary>
    public required Tensor LastPositions { get; init; }

    /// <summary>
    /// With keepKvCache: per layer, per rank, the rotated keys and values [B, kv_heads, LocalLength, D] (zigzag layout,
    /// padding included) on the rank's device; null otherwise.
    /// </summary>
    public IReadOnlyList<(Tensor K, Tensor V)[]>? KvCache { get; init; }

    /// <summary>The hidden states in sequence order without padding, [B, L, H] on <paramref name="device"/>.</summary>
    public Tensor GatherHidden(Device? device = null) => Plan.Gather(Hidden, 1, device);

    public void Dispose()
    {
        foreach (Tensor h in Hidden)
        {
            h.Dispose();
        }

        LastLogits.Dispose();
        LastPositions.Dispose();
        foreach ((Tensor k, Tensor v) in KvCache?.SelectMany(l => l) ?? [])
        {
            k.Dispose();
            v.Dispose();
        }
    }
}

/// <summary>A <see cref="Qwen2ForCausalLM"/> replicated over the devices of the ranks, running prefills with ring attention.</summary>
public sealed class SequenceParallelQwen2 : IDisposable
{
    private readonly Qwen2ForCausalLM[] _replicas;       // per rank (ranks on one device share one replica)
    private readonly ModelReplicas<Qwen2ForCausalLM>? _copies;
    private readonly int _ulysses = 1;

    /// <summary>
    /// Ranks on <paramref name="devices"/> (one per rank; repeats allowed, e.g. cpu,cpu for tests). The model's own device
    /// uses the model itself; other devices get a copy of its weights.
    /// </summary>
    public SequenceParallelQwen2(Qwen2ForCausalLM model, IReadOnlyList<Device> devices)
        : this(model, devices, copyPerRank: false)
    {
    }

    /// <summary>With <paramref name="copyPerRank"/>, every rank gets its own copy of the weights (tests the multi-device path on one CPU).</summary>
    internal SequenceParallelQwen2(Qwen2ForCausalLM model, IReadOnlyList<Device> devices, bool copyPerRank)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.Count < 1)
        {
            throw new SequenceParallelException("Sequence parallelism needs at least one device (one per rank), got none.");
        }

        Model = model;
        Devices = devices.ToArray();
        _copies = new ModelReplicas<Qwen2ForCausalLM>(model, devices, copyPerRank, m => m.Device, d => new Qwen2ForCausalLM(model.Config, d, model.DType));
        _replicas = _copies.PerRank;
    }

    /// <summary>Ranks running the given per-rank models (already on the rank devices; not owned, not copied).</summary>
    internal SequenceParallelQwen2(IReadOnlyList<Qwen2ForCausalLM> perRank, IReadOnlyList<Device> devices)
    {
        if (perRank.Count != devices.Count || devices.Count < 1)
        {
            throw new SequenceParallelException($"Give one model per rank: {perRank.Count} models for {devices.Count} devices.");
        }

        Model = perRank[0];
        Devices = devices.ToArray();
        _replicas = perRank.ToArray();
    }

    public Qwen2ForCausalLM Model { get; }

    /// <summary>The model each rank runs (the same object for ranks that share a device).</summary>
    internal IReadOnlyList<Qwen2ForCausalLM> Replicas => _replicas;

    public IReadOnlyList<Device> Devices { get; }

    public int Ranks => Devices.Count;

    /// <summary>
    /// P_u of LongVILA's 2D attention (Ulysses all-to-all over P_u consecutive ranks, ring attention over the P / P_u
    /// Ulysses groups); 1 = ring only. Must divide the ranks and the attention heads.
    /// </summary>
    public int UlyssesDegree
    {
        get => _ulysses;
        init
        {
            if (value < 1 || Ranks % value != 0 || Model.Config.NumAttentionHeads % value != 0)
            {
                throw new SequenceParallelException(
                    $"The Ulysses degree must divide both the {Ranks} ranks and the {Model.Config.NumAttentionHeads} attention heads, got {value}.");
            }

            _ulysses = value;
        }
    }

    /// <summary>
    /// Prefill of <paramref name="inputsEmbeds"/> [B, L, H] (any device) at <paramref name="positionIds"/> [B, L] (float
    /// V2PE positions or integers; null: 0 … L − 1): shards it zigzag over the ranks and runs the decoder stack.
    /// </summary>
    public SequenceParallelPrefill Prefill(Tensor inputsEmbeds, Tensor? positionIds = null, RingAttentionOptions? options = null,
        bool keepKvCache = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputsEmbeds);
        if (inputsEmbeds.ndim != 3 || inputsEmbeds.shape[2] != Model.Config.HiddenSize)
        {
            throw new SequenceParallelException(
                $"Inputs embeds must be [B, L, {Model.Config.HiddenSize}], got [{string.Join(", ", inputsEmbeds.shape)}].");
        }

        long batch = inputsEmbeds.shape[0], length = inputsEmbeds.shape[1];
        if (positionIds is not null && (positionIds.ndim != 2 || positionIds.shape[0] != batch || positionIds.shape[1] != length))
        {
            throw new SequenceParallelException(
                $"Position ids must be [B, L] = [{batch}, {length}] like the inputs embeds, got [{string.Join(", ", positionIds.shape)}].");
        }

        ZigzagPlan plan = ZigzagPlan.Create(length, Ranks, ulysses: UlyssesDegree);
        Tensor[] embeds = plan.Shard(inputsEmbeds, 1, Devices);
        Tensor[]? positions = null;
        try
        {
            if (positionIds is not null)
            {
                using Tensor asFloat = positionIds.to(ScalarType.Float32);
                positions = plan.Shard(asFloat, 1, Devices);
            }

            return PrefillShards(plan, embeds, positions, options, keepKvCache, cancellationToken);
        }
        finally
        {
            foreach (Tensor t in embeds.Concat(positions ?? []))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>
    /// Prefill of inputs already sharded by <paramref name="plan"/>: <paramref name="embedShards"/>[r] [B, LocalLength, H]
    /// on rank r's device; <paramref name="positionShards"/>[r] [B, LocalLength] (null: the global indices).
    /// </summary>
    public SequenceParallelPrefill PrefillShards(ZigzagPlan plan, IReadOnlyList<Tensor> embedShards, IReadOnlyList<Tensor>? positionShards = null,
        RingAttentionOptions? options = null, bool keepKvCache = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(embedShards);
        if (plan.Ranks != Ranks || embedShards.Count != Ranks || (positionShards is not null && positionShards.Count != Ranks))
        {
            throw new SequenceParallelException(
                $"This model runs {Ranks} ranks; the plan has {plan.Ranks}, and {embedShards.Count} embedding and {positionShards?.Count ?? Ranks} position shards were given.");
        }

        int p = Ranks;
        long batch = embedShards[0].shape[0];
        using IDisposable noGrad = no_grad();
        var hidden = new Tensor[p];
        var cos = new Tensor[p];
        var sin = new Tensor[p];
        var cache = keepKvCache ? new List<(Tensor K, Tensor V)[]>() : null;
        Tensor? lastPositions = null;
        (int lastRank, long lastLocal) = plan.Locate(plan.Length - 1);
        try
        {
            for (int r = 0; r < p; r++)
            {
                Tensor e = embedShards[r];
                if (e.ndim != 3 || e.shape[0] != batch || e.shape[1] != plan.LocalLength || e.shape[2] != Model.Config.HiddenSize)
                {
                    throw new SequenceParallelException(
                        $"Shard {r} is [{string.Join(", ", e.shape)}]; expected [{batch}, {plan.LocalLength}, {Model.Config.HiddenSize}].");
                }

                using var scope = NewDisposeScope();
                Qwen2ForCausalLM replica = _replicas[r];
                hidden[r] = e.to(replica.DType, Devices[r]).clone().MoveToOuterDisposeScope();
                Tensor positions = positionShards?[r].to(ScalarType.Float32, Devices[r])
                    ?? plan.GlobalIndices(r, Devices[r]).to(ScalarType.Float32).unsqueeze(0).expand(batch, plan.LocalLength);   // [B, Lr]
                (Tensor c, Tensor s) = replica.Decoder.RotaryCosSin(positions);    // [B, Lr, D] each
                cos[r] = c.MoveToOuterDisposeScope();
                sin[r] = s.MoveToOuterDisposeScope();
                if (r == lastRank)
                {
                    lastPositions = positions.select(1, lastLocal).clone().MoveToOuterDisposeScope();   // [B]
                }
            }

            int layers = Model.Config.NumHiddenLayers;
            for (int i = 0; i < layers; i++)
            {
                var q = new Tensor[p];
                var k = new Tensor[p];
                var v = new Tensor[p];
                Tensor[]? context = null;
                try
                {
                    for (int r = 0; r < p; r++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        Qwen2DecoderLayer layer = _replicas[r].Decoder.Layer(i);
                        using Tensor normed = layer.InputNorm(hidden[r]);          // [B, Lr, H]
                        (q[r], k[r], v[r]) = layer.SelfAttention.RotatedProjections(normed, cos[r], sin[r]);
                    }

                    context = RingAttention.Forward(plan, q, k, v, options, cancellationToken);   // P × [B, heads, Lr, D]
                    if (cache is not null)
                    {
                        cache.Add(k.Zip(v).ToArray());                              // the layer's distributed KV cache
                        Array.Clear(k);
                        Array.Clear(v);
                    }

                    for (int r = 0; r < p; r++)
                    {
                        Qwen2DecoderLayer layer = _replicas[r].Decoder.Layer(i);
                        using var scope = NewDisposeScope();
                        Tensor h = hidden[r] + layer.SelfAttention.OutputProjection(context[r]);   // [B, Lr, H]
                        Tensor next = layer.FeedForwardResidual(h).MoveToOuterDisposeScope();
                        hidden[r].Dispose();
                        hidden[r] = next;
                    }
                }
                finally
                {
                    foreach (Tensor? t in q.Concat(k).Concat(v).Concat(context ?? []))
                    {
                        t?.Dispose();
                    }
                }
            }

            for (int r = 0; r < p; r++)
            {
                Tensor normed = _replicas[r].Decoder.FinalNorm(hidden[r]);
                hidden[r].Dispose();
                hidden[r] = normed;
            }

            Tensor logits;
            using (var scope = NewDisposeScope())
            {
                Tensor last = hidden[lastRank].narrow(1, lastLocal, 1);               // [B, 1, H]
                logits = _replicas[lastRank].LmHead(last).select(1, 0).to(ScalarType.Float32).MoveToOuterDisposeScope();   // [B, V]
            }

            return new SequenceParallelPrefill
            {
                Plan = plan, Hidden = hidden, LastLogits = logits, LastPositions = lastPositions!, KvCache = cache,
            };
        }
        catch
        {
            foreach (Tensor? t in hidden.Append(lastPositions).Concat(cache?.SelectMany(l => l).SelectMany(kv => new[] { kv.K, kv.V }) ?? []))
            {
                t?.Dispose();
            }

            throw;
        }
        finally
        {
            foreach (Tensor? t in cos.Concat(sin))
            {
                t?.Dispose();
            }
        }
    }

    /// <summary>
    /// Decoding over <paramref name="prefill"/>'s distributed KV cache (run <see cref="Prefill"/> with keepKvCache: true);
    /// the prefill must stay alive while the decoding is used.
    /// </summary>
    public SequenceParallelDecoding StartDecoding(SequenceParallelPrefill prefill)
    {
        ArgumentNullException.ThrowIfNull(prefill);
        return new SequenceParallelDecoding(this, prefill);
    }

    /// <summary>The weights rank <paramref name="rank"/> runs on.</summary>
    internal Qwen2ForCausalLM Replica(int rank) => _replicas[rank];

    public void Dispose() => _copies?.Dispose();
}
