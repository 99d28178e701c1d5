// Generation after a sequence-parallel prefill (LongVILA's inference mode, ALGORITHMS.md §4.2: the same sharding plus a
// distributed KV cache). The prompt's keys and values stay on the ranks that computed them; each new token runs the
// decoder stack on one "home" device (the rank holding the last prompt token) and, in every layer, attends to each
// rank's cached block (only its real tokens: padding is left out) and to the tokens generated so far (kept on the home
// device), one fused attention call per block returning the log-sum-exp, merged by log-sum-exp weights in fp32. The
// query's grouped heads are folded into the query length, so the cached KV heads are never repeated.
using TorchSharp;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>Token-by-token decoding over the distributed KV cache of a <see cref="SequenceParallelPrefill"/>.</summary>
public sealed class SequenceParallelDecoding : IDisposable
{
    private readonly SequenceParallelQwen2 _owner;
    private readonly SequenceParallelPrefill _prefill;
    private readonly IReadOnlyList<(Tensor K, Tensor V)[]> _cache;
    private readonly (Tensor? K, Tensor? V)[] _tail;          // per layer: generated tokens' keys/values on the home device
    private readonly (int Rank, long Offset, long Length)[] _segments;

    internal SequenceParallelDecoding(SequenceParallelQwen2 owner, SequenceParallelPrefill prefill)
    {
        _owner = owner;
        _prefill = prefill;
        _cache = prefill.KvCache ?? throw new SequenceParallelException("Decoding needs the prefill's KV cache: run Prefill with keepKvCache: true.");
        (HomeRank, _) = prefill.Plan.Locate(prefill.Plan.Length - 1);
        _tail = new (Tensor?, Tensor?)[_cache.Count];
        _segments = Segments(prefill.Plan).ToArray();
        NextPositions = (prefill.LastPositions + 1).DetachFromDisposeScope();          // owned here, whatever scope the caller has open
    }

    /// <summary>The rank whose device runs the decoder stack for new tokens (it holds the last prompt token).</summary>
    public int HomeRank { get; }

    /// <summary>Tokens generated so far (appended to the cache).</summary>
    public int Generated { get; private set; }

    /// <summary>The position the next token gets, [B] float32 (the last prompt position + 1 + tokens generated).</summary>
    public Tensor NextPositions { get; private set; }

    /// <summary>
    /// Runs one new token per sequence, <paramref name="tokenEmbeds"/> [B, 1, H], at <paramref name="positions"/> ([B] or
    /// [B, 1] float; null: <see cref="NextPositions"/>), appends its keys and values to the cache and returns the logits
    /// of its position, [B, V] float32 on the home device.
    /// </summary>
    public Tensor Step(Tensor tokenEmbeds, Tensor? positions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokenEmbeds);
        long batch = _prefill.LastLogits.shape[0];
        Qwen2ForCausalLM home = _owner.Replica(HomeRank);
        Device device = _owner.Devices[HomeRank];
        if (tokenEmbeds.ndim != 3 || tokenEmbeds.shape[0] != batch || tokenEmbeds.shape[1] != 1 || tokenEmbeds.shape[2] != home.Config.HiddenSize)
        {
            throw new SequenceParallelException($"A decoding step takes [B, 1, H] = [{batch}, 1, {home.Config.HiddenSize}] token embeddings, got [{string.Join(", ", tokenEmbeds.shape)}].");
        }

        if (positions is not null && positions.numel() != batch)
        {
            throw new SequenceParallelException($"A decoding step takes one position per sequence ([B] or [B, 1], B = {batch}), got [{string.Join(", ", positions.shape)}].");
        }

        using IDisposable noGrad = no_grad();
        using var scope = NewDisposeScope();
        if (positions is not null)
        {
            NextPositions.copy_(positions.reshape(batch).to(ScalarType.Float32, NextPositions.device));
        }

        Tensor hidden = tokenEmbeds.to(home.DType, device);                                    // [B, 1, H]
        (Tensor cos, Tensor sin) = home.Decoder.RotaryCosSin(NextPositions.unsqueeze(1));       // [B, 1, D]
        for (int i = 0; i < _cache.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Qwen2DecoderLayer layer = home.Decoder.Layer(i);
            Tensor normed = layer.InputNorm(hidden);
            (Tensor q, Tensor k, Tensor v) = layer.SelfAttention.RotatedProjections(normed, cos, sin);   // [B, heads, 1, D], [B, kv, 1, D]
            Append(i, k, v);
            Tensor context = Attend(i, q);                                                      // [B, heads, 1, D]
            Tensor h = hidden + layer.SelfAttention.OutputProjection(context.to(q.dtype));
            hidden = layer.FeedForwardResidual(h);
        }

        Tensor logits = home.LmHead(home.Decoder.FinalNorm(hidden)).select(1, 0).to(ScalarType.Float32);   // [B, V]
        Generated++;
        Tensor next = NextPositions + 1;
        NextPositions.Dispose();
        NextPositions = next.DetachFromDisposeScope();
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Greedy generation for one sequence (B = 1): the first token from the prefill's last logits, then up to
    /// <paramref name="maxNewTokens"/> − 1 steps, stopping after <paramref name="eosTokenId"/>. Returns the token ids.
    /// </summary>
    public IReadOnlyList<long> Greedy(int maxNewTokens, long? eosTokenId = null, CancellationToken cancellationToken = default)
    {
        if (maxNewTokens < 1)
        {
            throw new SequenceParallelException($"maxNewTokens must be at least 1, got {maxNewTokens}.");
        }

        if (_prefill.LastLogits.shape[0] != 1)
        {
            throw new SequenceParallelException($"Greedy decoding takes one sequence (B = 1), the prefill has {_prefill.LastLogits.shape[0]}; use Step for batches.");
        }

        var tokens = new List<long> { _prefill.LastLogits.argmax(-1).item<long>() };
        Qwen2ForCausalLM home = _owner.Replica(HomeRank);
        while (tokens.Count < maxNewTokens && tokens[^1] != eosTokenId)
        {
            using Tensor id = tensor(new[] { tokens[^1] }, [1, 1], ScalarType.Int64, _owner.Devices[HomeRank]);
            using Tensor embeds = home.EmbedTokens(id);
            using Tensor logits = Step(embeds, cancellationToken: cancellationToken);
            tokens.Add(logits.argmax(-1).item<long>());
        }

        return tokens;
    }

    public void Dispose()
    {
        NextPositions.Dispose();
        foreach ((Tensor? k, Tensor? v) in _tail)
        {
            k?.Dispose();
            v?.Dispose();
        }
    }

    /// <summary>The real (non-padding) local spans of every rank's cache: up to two per rank, one per zigzag chunk.</summary>
    internal static IEnumerable<(int Rank, long Offset, long Length)> Segments(ZigzagPlan plan)
    {
        long c = plan.ChunkSize;
        for (int r = 0; r < plan.Ranks; r++)
        {
            (int first, int second) = plan.ChunksOf(r);
            foreach ((int chunk, long offset) in new[] { (first, 0L), (second, c) })
            {
                long real = Math.Clamp(plan.Length - (chunk * c), 0, c);
                if (real > 0)
                {
                    yield return (r, offset, real);
                }
            }
        }
    }

    private void Append(int layer, Tensor k, Tensor v)
    {
        (Tensor? oldK, Tensor? oldV) = _tail[layer];
        Tensor newK = oldK is null ? k.clone() : cat([oldK, k], 2);                            // [B, kv, T, D]
        Tensor newV = oldV is null ? v.clone() : cat([oldV, v], 2);
        _tail[layer] = (newK.DetachFromDisposeScope(), newV.DetachFromDisposeScope());   // owned by this decoding, not by a caller's scope
        oldK?.Dispose();
        oldV?.Dispose();
    }

    /// <summary>The new token's attention over every cached block and the generated tokens: [B, heads, 1, D] fp32 on the home device.</summary>
    private Tensor Attend(int layer, Tensor q)
    {
        long batch = q.shape[0], heads = q.shape[1], dim = q.shape[3];
        (Tensor tailK, Tensor tailV) = (_tail[layer].K!, _tail[layer].V!);
        long kvHeads = tailK.shape[1];
        double scale = 1.0 / Math.Sqrt(dim);
        Tensor grouped = q.reshape(batch, kvHeads, heads / kvHeads, dim);                     // query heads folded into the query length: [B, kv, g, D]
        Tensor? acc = null, lse = null;
        void Merge(Tensor output, Tensor blockLse)
        {
            Tensor o = output.to(ScalarType.Float32, q.device);
            Tensor l = blockLse.to(q.device);
            if (acc is null)
            {
                (acc, lse) = (o, l);
                return;
            }

            Tensor merged = lse!.logaddexp(l);
            acc = (acc * (lse - merged).exp().unsqueeze(-1)) + (o * (l - merged).exp().unsqueeze(-1));
            lse = merged;
        }

        foreach ((int rank, long offset, long length) in _segments)
        {
            (Tensor k, Tensor v) = _cache[layer][rank];
            Tensor qr = grouped.to(k.device);
            (Tensor output, Tensor blockLse) = BlockAttention.Compute(qr, k.narrow(2, offset, length), v.narrow(2, offset, length), causal: false, scale);
            Merge(output, blockLse);
        }

        (Tensor tailOut, Tensor tailLse) = BlockAttention.Compute(grouped, tailK, tailV, causal: false, scale);   // the generated tokens, itself included
        Merge(tailOut, tailLse);
        return acc!.reshape(batch, heads, 1, dim);                                             // [B, kv, g, D] -> [B, heads, 1, D]
    }
}
