// Qwen2 decoder-only language model: the LLM of VideoChat-Flash and LongVA (Qwen2-7B: 28 layers, hidden 3584,
// 28 query heads, 4 key/value heads, vocabulary 152064).
// Traits: pre-norm blocks with RMSNorm computed in fp32; rotary embeddings computed in fp32 from FLOAT position ids
// (V2PE, ALGORITHMS.md §3: fractional visual positions), cos/sin cast to the activation dtype; grouped-query attention
// with q/k/v bias and no o_proj bias through scaled_dot_product_attention; SwiGLU MLP; lm_head optionally tied to
// embed_tokens. Inference by default: the KV cache is written in place and every forward in eval mode runs under no_grad; in train()
// mode (without a cache) gradients flow, for VideoLong-Tiny's trainer.
// Paper: Qwen2 Technical Report, https://arxiv.org/abs/2407.10671.
// Reference: huggingface/transformers src/transformers/models/qwen2/modeling_qwen2.py (read at commit
// 00d4b3d2142cb4ced2f51b90614b5d26bc045015; parity fixtures are made with transformers 5.17).
using TorchSharp;
using TorchSharp.Modules;
using VideoLong.Language.Generation;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using VideoLong.Vision.Layers;
using VideoLong.Vision.Models;

namespace VideoLong.Language.Models.Qwen2;

/// <summary>What <see cref="Qwen2ForCausalLM"/> runs on. The caller owns these tensors.</summary>
public sealed class Qwen2CausalLMInput
{
    /// <summary>Token ids [B, L] int64. Exactly one of this and <see cref="InputsEmbeds"/> is set.</summary>
    public Tensor? InputIds { get; init; }

    /// <summary>Input embeddings [B, L, H] in the model dtype (a VLM splices visual features into these).</summary>
    public Tensor? InputsEmbeds { get; init; }

    /// <summary>
    /// [B, P + L] of 0/1 (P = positions already in <see cref="Cache"/>); left padding. Null: every position is real.
    /// </summary>
    public Tensor? AttentionMask { get; init; }

    /// <summary>
    /// [B, L] float32 (fractional V2PE positions) or integer. Null: as HF, cumsum(mask) − 1 with padded positions set to 1,
    /// or P … P + L − 1 without a mask.
    /// </summary>
    public Tensor? PositionIds { get; init; }

    /// <summary>Keys/values of earlier positions; the new ones are appended.</summary>
    public Qwen2KvCache? Cache { get; init; }

    /// <summary>Compute logits for the last position only ([B, 1, V]), which saves memory in a long prefill.</summary>
    public bool LastPositionLogitsOnly { get; init; }

    /// <summary>
    /// Also return hidden states at this index, numbered as HF's <c>hidden_states</c>: 0 = embeddings, k = output of
    /// layer k, num_hidden_layers = after the final norm; negative counts from the end (−1 = final). With video-level token
    /// dropping, the states after a drop layer are already shortened.
    /// </summary>
    public int? HiddenStatesIndex { get; init; }

    /// <summary>
    /// Video-level token dropping (HiCo, ALGORITHMS.md §1.4) for a prefill over an empty cache; null = off (bit-identical
    /// to the plain model). Decoding steps need not repeat it: the cache remembers the drop.
    /// </summary>
    public VideoTokenDropping? VideoTokenDropping { get; init; }
}

/// <summary>The result of a forward: logits in the model dtype and, if asked, one layer's hidden states.</summary>
public sealed class Qwen2CausalLMOutput : IDisposable
{
    /// <summary>
    /// [B, L, V], or [B, 1, V] with <see cref="Qwen2CausalLMInput.LastPositionLogitsOnly"/>. After video-level token dropping
    /// L is the shortened length (the dropped visual positions have no logits).
    /// </summary>
    public required Tensor Logits { get; init; }

    /// <summary>[B, L, H] at <see cref="Qwen2CausalLMInput.HiddenStatesIndex"/>, else null.</summary>
    public Tensor? HiddenStates { get; init; }

    /// <summary>
    /// With <see cref="Qwen2CausalLMInput.VideoTokenDropping"/>: for each stage that dropped tokens, the visual tokens it
    /// kept as ascending indices into the original visual span (0 … Nv − 1), [B, keep] int64. Empty otherwise.
    /// </summary>
    public IReadOnlyList<Tensor> KeptVisualTokens { get; init; } = [];

    public void Dispose()
    {
        Logits.Dispose();
        HiddenStates?.Dispose();
        foreach (Tensor kept in KeptVisualTokens)
        {
            kept.Dispose();
        }
    }
}

/// <summary>Qwen2 with its language-modelling head: <c>model.*</c> (<see cref="Qwen2Model"/>) and <c>lm_head</c>.</summary>
public sealed class Qwen2ForCausalLM : Module<Qwen2CausalLMInput, Qwen2CausalLMOutput>, ICausalLanguageModel
{
    private readonly Qwen2Model model;   // model.*
    private readonly Linear lm_head;     // lm_head.weight [V, H]; the same tensor as embed_tokens when tied

    /// <summary>Builds the model with freshly initialised weights on <paramref name="device"/> in <paramref name="dtype"/>.</summary>
    public Qwen2ForCausalLM(Qwen2Config config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(Qwen2ForCausalLM))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Device = device ?? CPU;
        DType = dtype;
        model = new Qwen2Model(config, Device, dtype);
        lm_head = Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: Device, dtype: dtype);
        if (config.TieWordEmbeddings)
        {
            lm_head.weight = model.EmbedTokensWeight;
        }

        RegisterComponents();
        eval();
    }

    public Qwen2Config Config { get; }

    public Device Device { get; }

    public ScalarType DType { get; }

    /// <summary>
    /// The checkpoint mapping: names are HF's state-dict names as they are; a tied <c>lm_head.weight</c> is filled from
    /// <c>model.embed_tokens.weight</c>; stale rotary buffers that old checkpoints carry are ignored.
    /// </summary>
    public static WeightMap WeightMapFor(Qwen2Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new WeightMap
        {
            Tied = config.TieWordEmbeddings
                ? new Dictionary<string, string> { ["lm_head.weight"] = "model.embed_tokens.weight" }
                : new Dictionary<string, string>(),
            Ignored = [new System.Text.RegularExpressions.Regex(@"\.rotary_emb\.inv_freq$")],
        };
    }

    /// <summary>
    /// Loads <c>config.json</c> and the safetensors weights of <paramref name="directory"/> strictly (a missing,
    /// unexpected or mis-shaped tensor fails with a <see cref="WeightLoadException"/> naming it).
    /// </summary>
    public static Task<Qwen2ForCausalLM> FromPretrainedAsync(string directory, ModelLoadOptions? options = null, IProgress<LoadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new ModelLoadOptions();
        return Task.Run(() =>
        {
            Qwen2Config config = Qwen2Config.Load(directory);
            (Device device, ScalarType dtype) = options.Resolve();
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory);
            cancellationToken.ThrowIfCancellationRequested();
            var lm = new Qwen2ForCausalLM(config, device, dtype);
            try
            {
                WeightLoader.LoadStrict(lm, checkpoint, $"Qwen2ForCausalLM ({config.NumHiddenLayers} layers)", WeightMapFor(config), progress,
                    cancellationToken);
                return lm;
            }
            catch
            {
                lm.Dispose();
                throw;
            }
        }, cancellationToken);
    }

    /// <summary>A cache for <paramref name="batchSize"/> sequences of up to <paramref name="capacity"/> positions, in the model dtype and device.</summary>
    public Qwen2KvCache CreateKvCache(int batchSize, int capacity) => new(Config, batchSize, capacity, DType, Device);

    /// <summary>The token embeddings of <paramref name="inputIds"/> ([B, L] → [B, L, H]), for splicing in visual features.</summary>
    public Tensor EmbedTokens(Tensor inputIds)
    {
        using IDisposable? noGrad = training ? null : no_grad();
        return model.EmbedTokens(inputIds);
    }

    public override Qwen2CausalLMOutput forward(Qwen2CausalLMInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using IDisposable? noGrad = training ? null : no_grad();                   // train(): gradients flow (VideoLong-Tiny's trainer)
        using DisposeScope scope = NewDisposeScope();
        (Tensor last, Tensor? selected, IReadOnlyList<Tensor> kept) = model.call(input);   // [B, L', H], [B, L, H]?, S × [B, keep]
        Tensor hidden = input.LastPositionLogitsOnly ? last.narrow(1, last.shape[1] - 1, 1) : last;   // [B, L, H] -> [B, 1, H]
        Tensor logits = LinearOps.Apply(lm_head, hidden);                                       // [B, L or 1, V]
        return new Qwen2CausalLMOutput
        {
            Logits = logits.MoveToOuterDisposeScope(),
            HiddenStates = selected?.MoveToOuterDisposeScope(),
            KeptVisualTokens = kept.Select(k => k.MoveToOuterDisposeScope()).ToArray(),
        };
    }

    /// <summary>
    /// This model as an <see cref="ICausalLanguageModel"/> whose prefill drops visual tokens with <paramref name="dropping"/>
    /// (null = off), e.g. <c>new TokenGenerator(model.WithVideoTokenDropping(options))</c>. The model is shared, not copied.
    /// </summary>
    public ICausalLanguageModel WithVideoTokenDropping(VideoTokenDropping? dropping)
    {
        dropping?.Validate(Config.NumHiddenLayers, long.MaxValue);
        return new DroppingModel(this, dropping);
    }

    /// <summary>
    /// The attention scores of the visual span that a drop after layer <paramref name="afterLayer"/> (1-based) ranks by:
    /// <paramref name="hidden"/> [B, L, H] is that layer's output, <paramref name="positions"/> [B, L] the positions in use,
    /// <paramref name="attentionMask"/> [B, L] of 0/1 or null. Returns [B, count] float32.
    /// </summary>
    internal Tensor VisualTokenScores(int afterLayer, Tensor hidden, Tensor positions, Tensor? attentionMask, int visualStart, int count)
    {
        using IDisposable noGrad = no_grad();
        return model.VisualTokenScores(afterLayer, hidden, positions, attentionMask, visualStart, count);
    }

    IKeyValueCache ICausalLanguageModel.CreateCache(int batchSize, int capacity) => CreateKvCache(batchSize, capacity);

    /// <summary>The decoder stack, for the sequence-parallel prefill (Parallel/SequenceParallelQwen2).</summary>
    internal Qwen2Model Decoder => model;

    /// <summary>lm_head on [B, L, H] → [B, L, V].</summary>
    internal Tensor LmHead(Tensor hidden) => LinearOps.Apply(lm_head, hidden);

    Tensor ICausalLanguageModel.NextTokenLogits(Tensor? inputIds, Tensor? inputsEmbeds, Tensor attentionMask, Tensor positionIds, IKeyValueCache cache) =>
        NextTokenLogits(inputIds, inputsEmbeds, attentionMask, positionIds, cache, dropping: null);

    private Tensor NextTokenLogits(Tensor? inputIds, Tensor? inputsEmbeds, Tensor attentionMask, Tensor positionIds, IKeyValueCache cache,
        VideoTokenDropping? dropping)
    {
        if (cache is not Qwen2KvCache qwenCache)
        {
            throw new ArgumentException($"Expected a {nameof(Qwen2KvCache)} made by {nameof(CreateKvCache)}, got {cache?.GetType().Name ?? "null"}.", nameof(cache));
        }

        using DisposeScope scope = NewDisposeScope();
        Qwen2CausalLMOutput output = forward(new Qwen2CausalLMInput
        {
            InputIds = inputIds,
            InputsEmbeds = inputsEmbeds,
            AttentionMask = attentionMask,
            PositionIds = positionIds,
            Cache = qwenCache,
            LastPositionLogitsOnly = true,
            VideoTokenDropping = dropping,
        });
        Tensor logits = output.Logits.select(1, 0).to(ScalarType.Float32);         // [B, 1, V] -> [B, V]
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>The model with video-level dropping applied to every prefill it runs (see <see cref="WithVideoTokenDropping"/>).</summary>
    private sealed class DroppingModel(Qwen2ForCausalLM model, VideoTokenDropping? dropping) : ICausalLanguageModel
    {
        public Device Device => model.Device;

        public IKeyValueCache CreateCache(int batchSize, int capacity) => model.CreateKvCache(batchSize, capacity);

        public Tensor NextTokenLogits(Tensor? inputIds, Tensor? inputsEmbeds, Tensor attentionMask, Tensor positionIds, IKeyValueCache cache) =>
            model.NextTokenLogits(inputIds, inputsEmbeds, attentionMask, positionIds, cache, cache.Length == 0 ? dropping : null);
    }
}

/// <summary>The decoder stack: <c>embed_tokens</c>, <c>layers.{i}</c>, <c>norm</c>; returns the final hidden states.</summary>
internal sealed class Qwen2Model : Module<Qwen2CausalLMInput, (Tensor Last, Tensor? Selected, IReadOnlyList<Tensor> Kept)>
{
    private readonly Embedding embed_tokens;                   // model.embed_tokens.weight [V, H]
    private readonly ModuleList<Qwen2DecoderLayer> layers;    // model.layers.{i}.*
    private readonly Qwen2RMSNorm norm;                        // model.norm.weight [H]
    private readonly Qwen2RotaryEmbedding _rotary;             // no weights (inv_freq is recomputed, as HF's non-persistent buffer)
    private readonly Qwen2Config _config;
    private readonly ScalarType _dtype;

    public Qwen2Model(Qwen2Config config, Device device, ScalarType dtype) : base(nameof(Qwen2Model))
    {
        _config = config;
        _dtype = dtype;
        embed_tokens = Embedding(config.VocabSize, config.HiddenSize, device: device, dtype: dtype);
        layers = new ModuleList<Qwen2DecoderLayer>(
            Enumerable.Range(0, config.NumHiddenLayers).Select(i => new Qwen2DecoderLayer(config, i, device, dtype)).ToArray());
        norm = new Qwen2RMSNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        _rotary = new Qwen2RotaryEmbedding(config);
        RegisterComponents();
    }

    public Parameter EmbedTokensWeight => embed_tokens.weight!;

    public Tensor EmbedTokens(Tensor inputIds) => embed_tokens.call(inputIds);  // [B, L] -> [B, L, H]

    /// <summary>Decoder layer <paramref name="index"/>, for the sequence-parallel prefill.</summary>
    internal Qwen2DecoderLayer Layer(int index) => layers[index];

    /// <summary>The final RMSNorm.</summary>
    internal Tensor FinalNorm(Tensor hidden) => norm.call(hidden);

    /// <summary>cos and sin [B, L, D] in the model dtype for float positions [B, L].</summary>
    internal (Tensor Cos, Tensor Sin) RotaryCosSin(Tensor positions) => _rotary.CosSin(positions, _dtype);

    public override (Tensor Last, Tensor? Selected, IReadOnlyList<Tensor> Kept) forward(Qwen2CausalLMInput input)
    {
        using DisposeScope scope = NewDisposeScope();
        if ((input.InputIds is null) == (input.InputsEmbeds is null))
        {
            throw new ArgumentException("Pass exactly one of InputIds and InputsEmbeds.", nameof(input));
        }

        Tensor hidden = input.InputsEmbeds ?? embed_tokens.call(input.InputIds!);   // [B, L, H]
        if (hidden.ndim != 3 || hidden.shape[2] != _config.HiddenSize)
        {
            throw new ArgumentException($"Inputs embeds must be [B, L, {_config.HiddenSize}], got [{string.Join(", ", hidden.shape)}].", nameof(input));
        }

        hidden = hidden.to(_dtype);
        long batch = hidden.shape[0];
        long length = hidden.shape[1];
        Qwen2KvCache? cache = input.Cache;
        int past = cache?.Length ?? 0;
        if (cache is not null && cache.BatchSize != batch)
        {
            throw new ArgumentException($"The KV cache is for batch {cache.BatchSize}, the input has batch {batch}.", nameof(input));
        }

        Tensor? padding = PaddingMask(input.AttentionMask, batch, past + length);    // [B, P+L] bool, null when nothing is padded
        Tensor positions = PositionIds(input.PositionIds, padding, batch, past, length, hidden.device);   // [B, L] float32
        VideoTokenDropping? drop = PrefillDrop(input.VideoTokenDropping, cache, past, length, padding);
        AttentionContext attention = Context(positions, padding, past, length, cache);

        // Decoding over a cache whose deeper layers hold fewer tokens (an earlier prefill dropped visual tokens): those
        // layers see the sequence without the dropped tokens, each group of layers with its own positions and mask.
        AttentionContext[]? perLayer = past > 0 && cache!.VideoTokenDropping is { } dropped
            ? ShortenedContexts(dropped, cache, positions, padding, past, length, attention)
            : null;

        int wanted = NormalizeHiddenIndex(input.HiddenStatesIndex);
        Tensor? selected = wanted == 0 ? hidden.detach() : null;   // a handle of its own: the caller may own the embeddings
        var kept = new List<Tensor>();
        Tensor? keptOriginal = null;                               // [B, cur] indices into the original span
        int stage = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            hidden = layers[i].call(hidden, perLayer?[i] ?? attention);             // [B, L, H]
            if (drop is not null && stage < drop.Layers.Count && drop.Layers[stage] == i + 1)
            {
                // Video-level token dropping (ALGORITHMS.md §1.4) after layer l_s = i + 1: shorten the hidden states, the
                // positions and the padding, and rebuild the attention context for the deeper layers.
                stage++;
                int current = drop.TokensAt(stage - 1);
                int keep = drop.TokensAt(stage);
                if (keep < current)
                {
                    Tensor choice = drop.ModeAt(stage) == VideoTokenDropMode.Uniform
                        ? tensor(VideoTokenDropping.UniformIndices(current, keep), ScalarType.Int64).to(hidden.device)
                            .unsqueeze(0).expand(batch, keep)                                              // [keep] -> [B, keep]
                        : TopAscending(layers[i + 1].VisualTokenScores(hidden, attention.Cos, attention.Sin, padding, drop.VisualStart, current), keep);
                    (hidden, positions, padding) = VideoTokenDropping.Shorten(hidden, positions, padding, choice, drop.VisualStart, current,
                        drop.Positions);                                                                   // [B, L', H], [B, L'], [B, L']?
                    keptOriginal = keptOriginal is null ? choice : keptOriginal.gather(1, choice);         // [B, keep]
                    kept.Add(keptOriginal);
                    attention = Context(positions, padding, 0, hidden.shape[1], cache);
                }
            }

            if (i + 1 == wanted && wanted < layers.Count)
            {
                selected = hidden;
            }
        }

        if (drop is not null && cache is not null)
        {
            cache.VideoTokenDropping = drop;
        }

        hidden = norm.call(hidden);                                                 // [B, L', H]
        if (wanted == layers.Count)
        {
            selected = hidden.detach();   // a handle of its own, so disposing one result leaves the other alive
        }

        return (hidden.MoveToOuterDisposeScope(), selected?.MoveToOuterDisposeScope(), kept.Select(k => k.MoveToOuterDisposeScope()).ToArray());
    }

    /// <summary>See <see cref="Qwen2ForCausalLM.VisualTokenScores"/>.</summary>
    public Tensor VisualTokenScores(int afterLayer, Tensor hidden, Tensor positions, Tensor? attentionMask, int visualStart, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(afterLayer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(afterLayer, layers.Count - 1);
        using DisposeScope scope = NewDisposeScope();
        Tensor? padding = PaddingMask(attentionMask, hidden.shape[0], hidden.shape[1]);
        (Tensor cos, Tensor sin) = _rotary.CosSin(positions, _dtype);               // [B, L, D] each
        Tensor scores = layers[afterLayer].VisualTokenScores(hidden.to(_dtype), cos, sin, padding, visualStart, count);   // [B, count]
        return scores.MoveToOuterDisposeScope();
    }

    /// <summary>The drop to apply in this forward: non-null only for a prefill (L > 1) over an empty cache that drops something.</summary>
    private VideoTokenDropping? PrefillDrop(VideoTokenDropping? drop, Qwen2KvCache? cache, int past, long length, Tensor? padding)
    {
        if (drop is null || length == 1)
        {
            return null;
        }

        drop.Validate(layers.Count, length);
        if (!drop.DropsAnything)
        {
            return null;
        }

        if (past != 0 || cache?.VideoTokenDropping is not null)
        {
            throw new NotSupportedException(
                $"Video-level token dropping runs in one prefill over an empty cache; the cache already holds {past} positions. Hint: Reset the cache or drop the option.");
        }

        if (padding is not null && !padding.narrow(1, drop.VisualStart, drop.VisualCount).all().item<bool>())
        {
            throw new ArgumentException(
                $"The visual span [{drop.VisualStart}, {drop.VisualStart + drop.VisualCount}) contains padding in some row; every row needs its visual tokens at the same indices.");
        }

        return drop;
    }

    /// <summary>
    /// Per-layer attention contexts for new tokens over a cache in which layer i holds d_i = P − LayerLength(i) fewer
    /// tokens: its padding loses the d_i dropped visual columns (all real), its past is P − d_i, and, with re-packed
    /// positions, the new tokens sit at their full-sequence positions minus d_i (ALGORITHMS.md §1.4 step 3).
    /// </summary>
    private AttentionContext[] ShortenedContexts(VideoTokenDropping drop, Qwen2KvCache cache, Tensor positions, Tensor? padding, int past, long length,
        AttentionContext full)
    {
        var byDropped = new Dictionary<int, AttentionContext> { [0] = full };
        var contexts = new AttentionContext[layers.Count];
        int visualEnd = drop.VisualStart + drop.VisualCount;
        for (int i = 0; i < layers.Count; i++)
        {
            int dropped = past - cache.LayerLength(i);
            if (!byDropped.TryGetValue(dropped, out AttentionContext? context))
            {
                Tensor shifted = drop.Positions == VideoDropPositions.Repacked ? positions - dropped : positions;   // [B, L]
                Tensor? shortened = padding is null
                    ? null
                    : cat([padding.narrow(1, 0, visualEnd - dropped), padding.narrow(1, visualEnd, padding.shape[1] - visualEnd)], 1);   // [B, P−d+L]
                context = Context(shifted, shortened, past - dropped, length, cache);
                byDropped[dropped] = context;
            }

            contexts[i] = context;
        }

        return contexts;
    }

    /// <summary>The <paramref name="keep"/> highest-scoring indices of [B, N] scores, sorted ascending (original order kept): [B, keep].</summary>
    private static Tensor TopAscending(Tensor scores, int keep)
    {
        (_, Tensor top) = scores.topk(keep, -1);                                    // [B, N] -> [B, keep] by score
        (Tensor ascending, _) = top.sort(-1);                                       // [B, keep] ascending indices
        return ascending;
    }

    private AttentionContext Context(Tensor positions, Tensor? padding, int past, long length, Qwen2KvCache? cache)
    {
        (Tensor cos, Tensor sin) = _rotary.CosSin(positions, _dtype);               // [B, L, D] each
        Tensor? mask = AttentionMask(padding, past, length, positions.device);      // [B, 1, L, P+L] bool or null
        return new AttentionContext(cos, sin, mask, IsCausal: mask is null && past == 0 && length > 1, cache);
    }

    private int NormalizeHiddenIndex(int? index)
    {
        if (index is not { } k)
        {
            return -1;
        }

        int n = layers.Count;
        int normalized = k < 0 ? n + 1 + k : k;
        if (normalized < 0 || normalized > n)
        {
            throw new ArgumentOutOfRangeException(nameof(index), k, $"Hidden-states index must be in [−{n + 1}, {n}] (0 = embeddings, {n} = final norm).");
        }

        return normalized;
    }

    /// <summary>The 0/1 mask as bool [B, S], or null when it marks every position real (so SDPA may take its fast paths).</summary>
    private static Tensor? PaddingMask(Tensor? attentionMask, long batch, long total)
    {
        if (attentionMask is null)
        {
            return null;
        }

        if (attentionMask.ndim != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != total)
        {
            throw new ArgumentException(
                $"The attention mask must be [B, cached + new] = [{batch}, {total}], got [{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
        }

        Tensor padding = attentionMask.to(ScalarType.Bool);                         // [B, S]
        return padding.all().item<bool>() ? null : padding;
    }

    /// <summary>Position ids as float32 [B, L]: given (V2PE floats kept as they are), from the mask as HF, or consecutive.</summary>
    private static Tensor PositionIds(Tensor? given, Tensor? padding, long batch, int past, long length, Device device)
    {
        if (given is not null)
        {
            if (given.ndim != 2 || given.shape[0] != batch || given.shape[1] != length)
            {
                throw new ArgumentException($"Position ids must be [B, L] = [{batch}, {length}], got [{string.Join(", ", given.shape)}].", nameof(given));
            }

            return given.to(ScalarType.Float32, device);
        }

        if (padding is not null)
        {
            Tensor cumulative = padding.to(ScalarType.Int64).cumsum(-1) - 1;        // [B, P+L]
            cumulative = cumulative.masked_fill(padding.logical_not(), 1);           // padded positions read 1, as HF
            return cumulative.narrow(1, past, length).to(ScalarType.Float32);       // [B, P+L] -> [B, L]
        }

        Tensor consecutive = arange(past, past + length, ScalarType.Float32, device);   // [L]
        return consecutive.unsqueeze(0).expand(batch, length);                       // [L] -> [B, L]
    }

    /// <summary>
    /// The boolean SDPA mask [B, 1, L, P+L] (true = attend): causal with offset P, padded keys removed, every query
    /// attending at least itself (a padded query would otherwise have no key and give NaN that leaks through the cache).
    /// Null when no mask is needed: plain causal prefill (is_causal) or a single new token without padding.
    /// </summary>
    private static Tensor? AttentionMask(Tensor? padding, int past, long length, Device device)
    {
        if (padding is null && (past == 0 || length == 1))
        {
            return null;
        }

        long total = past + length;
        Tensor queries = arange(past, total, ScalarType.Int64, device).view(length, 1);   // [L] -> [L, 1]
        Tensor keys = arange(0, total, ScalarType.Int64, device).view(1, total);           // [S] -> [1, S]
        Tensor allowed = keys.le(queries).view(1, 1, length, total);                        // [L, S] -> [1, 1, L, S]
        if (padding is not null)
        {
            Tensor real = padding.view(padding.shape[0], 1, 1, total);                     // [B, S] -> [B, 1, 1, S]
            Tensor diagonal = keys.eq(queries).view(1, 1, length, total);                   // [L, S] -> [1, 1, L, S]
            allowed = allowed.logical_and(real).logical_or(diagonal);                       // [B, 1, L, S]
        }

        return allowed;
    }
}

/// <summary>What every layer's attention shares in one forward.</summary>
internal sealed record AttentionContext(Tensor Cos, Tensor Sin, Tensor? Mask, bool IsCausal, Qwen2KvCache? Cache);

/// <summary>Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
internal sealed class Qwen2DecoderLayer : Module<Tensor, AttentionContext, Tensor>
{
    private readonly Qwen2Attention self_attn;                 // model.layers.{i}.self_attn.*
    private readonly Qwen2MLP mlp;                             // model.layers.{i}.mlp.*
    private readonly Qwen2RMSNorm input_layernorm;             // model.layers.{i}.input_layernorm.weight [H]
    private readonly Qwen2RMSNorm post_attention_layernorm;    // model.layers.{i}.post_attention_layernorm.weight [H]

    public Qwen2DecoderLayer(Qwen2Config config, int layerIndex, Device device, ScalarType dtype) : base(nameof(Qwen2DecoderLayer))
    {
        self_attn = new Qwen2Attention(config, layerIndex, device, dtype);
        mlp = new Qwen2MLP(config, device, dtype);
        input_layernorm = new Qwen2RMSNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        post_attention_layernorm = new Qwen2RMSNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    /// <summary>The attention block, for the sequence-parallel prefill.</summary>
    internal Qwen2Attention SelfAttention => self_attn;

    /// <summary>input_layernorm.</summary>
    internal Tensor InputNorm(Tensor hidden) => input_layernorm.call(hidden);

    /// <summary>The second half of the block: h + mlp(post_attention_layernorm(h)).</summary>
    internal Tensor FeedForwardResidual(Tensor h)
    {
        using DisposeScope scope = NewDisposeScope();
        return (h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope();
    }

    public override Tensor forward(Tensor hidden, AttentionContext attention)      // [B, L, H]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor h = hidden + self_attn.call(input_layernorm.call(hidden), attention); // [B, L, H]
        Tensor output = h + mlp.call(post_attention_layernorm.call(h));             // [B, L, H]
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Text-guided scores of the visual span for a drop before this layer (ALGORITHMS.md §1.4): this layer's input norm
    /// and q/k projections on <paramref name="hidden"/> [B, L, H] → [B, count] float32.
    /// </summary>
    public Tensor VisualTokenScores(Tensor hidden, Tensor cos, Tensor sin, Tensor? padding, int visualStart, int count)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor scores = self_attn.VisualTokenScores(input_layernorm.call(hidden), cos, sin, padding, visualStart, count);   // [B, count]
        return scores.MoveToOuterDisposeScope();
    }
}

/// <summary>Grouped-query self-attention with rotary embeddings; q/k/v have a bias, o_proj has none.</summary>
internal sealed class Qwen2Attention : Module<Tensor, AttentionContext, Tensor>
{
    private readonly Linear q_proj;   // model.layers.{i}.self_attn.q_proj.{weight [heads·D, H], bias}
    private readonly Linear k_proj;   // model.layers.{i}.self_attn.k_proj.{weight [kvHeads·D, H], bias}
    private readonly Linear v_proj;   // model.layers.{i}.self_attn.v_proj.{weight [kvHeads·D, H], bias}
    private readonly Linear o_proj;   // model.layers.{i}.self_attn.o_proj.weight [H, heads·D]
    private readonly int _layerIndex;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public Qwen2Attention(Qwen2Config config, int layerIndex, Device device, ScalarType dtype) : base(nameof(Qwen2Attention))
    {
        _layerIndex = layerIndex;
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        q_proj = Linear(config.HiddenSize, _heads * _headDim, hasBias: config.AttentionBias, device: device, dtype: dtype);
        k_proj = Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: config.AttentionBias, device: device, dtype: dtype);
        v_proj = Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: config.AttentionBias, device: device, dtype: dtype);
        o_proj = Linear(_heads * _headDim, config.HiddenSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, AttentionContext attention)      // [B, L, H]
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = hidden.shape[0];
        long length = hidden.shape[1];
        Tensor q = LinearOps.Apply(q_proj, hidden).view(batch, length, _heads, _headDim).transpose(1, 2);     // [B, L, heads·D] -> [B, heads, L, D]
        Tensor k = LinearOps.Apply(k_proj, hidden).view(batch, length, _kvHeads, _headDim).transpose(1, 2);   // [B, L, kv·D] -> [B, kv, L, D]
        Tensor v = LinearOps.Apply(v_proj, hidden).view(batch, length, _kvHeads, _headDim).transpose(1, 2);   // [B, L, kv·D] -> [B, kv, L, D]

        Tensor cos = attention.Cos.unsqueeze(1);                                    // [B, L, D] -> [B, 1, L, D]
        Tensor sin = attention.Sin.unsqueeze(1);                                    // [B, L, D] -> [B, 1, L, D]
        q = q * cos + RotateHalf(q) * sin;                                          // [B, heads, L, D]
        k = k * cos + RotateHalf(k) * sin;                                          // [B, kv, L, D]

        if (attention.Cache is { } cache)
        {
            (k, v) = cache.Append(_layerIndex, k, v);                               // [B, kv, P+L, D] each
        }

        k = RepeatKv(k);                                                            // [B, kv, S, D] -> [B, heads, S, D]
        v = RepeatKv(v);                                                            // [B, kv, S, D] -> [B, heads, S, D]
        Tensor context = functional.scaled_dot_product_attention(q, k, v, attention.Mask, 0.0, attention.IsCausal);   // [B, heads, L, D]
        context = context.transpose(1, 2).reshape(batch, length, _heads * _headDim); // [B, heads, L, D] -> [B, L, heads·D]
        return LinearOps.Apply(o_proj, context).MoveToOuterDisposeScope();                      // [B, L, H]
    }

    /// <summary>
    /// Queries [B, heads, L, D] and keys/values [B, kv, L, D] of <paramref name="normed"/> [B, L, H], rotated with cos/sin
    /// [B, L, D]; keys and values are not repeated (for the sequence-parallel prefill's ring attention).
    /// </summary>
    internal (Tensor Q, Tensor K, Tensor V) RotatedProjections(Tensor normed, Tensor cos, Tensor sin)
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = normed.shape[0];
        long length = normed.shape[1];
        Tensor q = LinearOps.Apply(q_proj, normed).view(batch, length, _heads, _headDim).transpose(1, 2);     // [B, heads, L, D]
        Tensor k = LinearOps.Apply(k_proj, normed).view(batch, length, _kvHeads, _headDim).transpose(1, 2);   // [B, kv, L, D]
        Tensor v = LinearOps.Apply(v_proj, normed).view(batch, length, _kvHeads, _headDim).transpose(1, 2);   // [B, kv, L, D]
        Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);                          // [B, 1, L, D]
        q = q * c + RotateHalf(q) * s;
        k = k * c + RotateHalf(k) * s;
        return (q.contiguous().MoveToOuterDisposeScope(), k.contiguous().MoveToOuterDisposeScope(), v.contiguous().MoveToOuterDisposeScope());
    }

    /// <summary>o_proj of attention outputs [B, heads, L, D] → [B, L, H].</summary>
    internal Tensor OutputProjection(Tensor context)
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = context.shape[0], length = context.shape[2];
        Tensor flat = context.transpose(1, 2).reshape(batch, length, _heads * _headDim);   // [B, L, heads·D]
        return LinearOps.Apply(o_proj, flat).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference's flash_rank_drop scoring: the last token's query against every key (RoPE with the current
    /// positions, KV heads repeated), QKᵀ/√D in the activation dtype, padded keys masked, softmax in fp32 over the row
    /// (the last row of the causal mask allows every key), averaged over heads, sliced to the visual span. [B, count].
    /// </summary>
    public Tensor VisualTokenScores(Tensor normed, Tensor cos, Tensor sin, Tensor? padding, int visualStart, int count)   // [B, L, H]
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = normed.shape[0];
        long length = normed.shape[1];
        Tensor lastToken = normed.narrow(1, length - 1, 1);                                                  // [B, 1, H]
        Tensor q = LinearOps.Apply(q_proj, lastToken).view(batch, 1, _heads, _headDim).transpose(1, 2);        // [B, 1, heads·D] -> [B, heads, 1, D]
        Tensor k = LinearOps.Apply(k_proj, normed).view(batch, length, _kvHeads, _headDim).transpose(1, 2);    // [B, L, kv·D] -> [B, kv, L, D]
        Tensor lastCos = cos.narrow(1, length - 1, 1).unsqueeze(1);                 // [B, L, D] -> [B, 1, 1, D]
        Tensor lastSin = sin.narrow(1, length - 1, 1).unsqueeze(1);                 // [B, L, D] -> [B, 1, 1, D]
        q = q * lastCos + RotateHalf(q) * lastSin;                                  // [B, heads, 1, D]
        k = k * cos.unsqueeze(1) + RotateHalf(k) * sin.unsqueeze(1);                // [B, kv, L, D]
        k = RepeatKv(k);                                                            // [B, kv, L, D] -> [B, heads, L, D]
        Tensor logits = q.matmul(k.transpose(2, 3)) / Math.Sqrt(_headDim);          // [B, heads, 1, L]
        logits = logits.to(ScalarType.Float32);
        if (padding is not null)
        {
            Tensor real = padding.view(batch, 1, 1, length);                        // [B, L] -> [B, 1, 1, L]
            logits = logits.masked_fill(real.logical_not(), double.NegativeInfinity);
        }

        Tensor probabilities = logits.softmax(-1);                                  // [B, heads, 1, L] fp32
        Tensor scores = probabilities.mean([1L]).squeeze(1).narrow(1, visualStart, count);   // [B, heads, 1, L] -> [B, L] -> [B, count]
        return scores.MoveToOuterDisposeScope();
    }

    /// <summary>HF's rotate_half: [x1, x2] → [−x2, x1] over the last dimension.</summary>
    internal static Tensor RotateHalf(Tensor x)
    {
        Tensor[] halves = x.chunk(2, -1);                                           // [..., D] -> 2 × [..., D/2]
        return cat([halves[1].neg(), halves[0]], -1);                               // [..., D]
    }

    private Tensor RepeatKv(Tensor x)
    {
        int groups = _heads / _kvHeads;
        if (groups == 1)
        {
            return x;
        }

        long batch = x.shape[0];
        long length = x.shape[2];
        return x.unsqueeze(2)                                                       // [B, kv, S, D] -> [B, kv, 1, S, D]
            .expand(batch, _kvHeads, groups, length, _headDim)                      // -> [B, kv, groups, S, D]
            .reshape(batch, _heads, length, _headDim);                              // -> [B, heads, S, D]
    }
}

/// <summary>SwiGLU: down(silu(gate(x)) · up(x)), no biases.</summary>
internal sealed class Qwen2MLP : Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;   // model.layers.{i}.mlp.gate_proj.weight [I, H]
    private readonly Linear up_proj;     // model.layers.{i}.mlp.up_proj.weight [I, H]
    private readonly Linear down_proj;   // model.layers.{i}.mlp.down_proj.weight [H, I]

    public Qwen2MLP(Qwen2Config config, Device device, ScalarType dtype) : base(nameof(Qwen2MLP))
    {
        gate_proj = Linear(config.HiddenSize, config.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        up_proj = Linear(config.HiddenSize, config.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        down_proj = Linear(config.IntermediateSize, config.HiddenSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)                                        // [B, L, H]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor gated = functional.silu(LinearOps.Apply(gate_proj, x)) * LinearOps.Apply(up_proj, x);        // [B, L, I]
        return LinearOps.Apply(down_proj, gated).MoveToOuterDisposeScope();                     // [B, L, H]
    }
}

/// <summary>RMSNorm as HF: normalise in fp32, cast back to the input dtype, then scale by the weight.</summary>
internal sealed class Qwen2RMSNorm : Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // [H], initialised to ones
    private readonly double _eps;

    public Qwen2RMSNorm(int hiddenSize, double eps, Device? device = null, ScalarType dtype = ScalarType.Float32) : base(nameof(Qwen2RMSNorm))
    {
        weight = new Parameter(ones(hiddenSize, dtype, device));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)                                        // [..., H]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor h = x.to(ScalarType.Float32);
        Tensor variance = h.pow(2).mean([-1L], keepdim: true);                      // [..., 1]
        h = h * rsqrt(variance + _eps);                                             // [..., H] fp32
        return (weight * h.to(x.dtype)).MoveToOuterDisposeScope();                  // [..., H]
    }
}

/// <summary>
/// Rotary embeddings from float positions: inv_freq = 1 / θ^(2i/D) in fp32, freqs = pos ⊗ inv_freq, emb = [freqs, freqs],
/// cos/sin in fp32, then cast to the activation dtype. Fractional positions (V2PE) are used as they are.
/// </summary>
internal sealed class Qwen2RotaryEmbedding(Qwen2Config config)
{
    private readonly int _dim = config.HeadDim;
    private readonly double _theta = config.RopeTheta;

    /// <summary>cos and sin [B, L, D] for positions [B, L] (any numeric type; used as float32).</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positions, ScalarType dtype)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor exponents = arange(0, _dim, 2, ScalarType.Int64, positions.device).to(ScalarType.Float32) / _dim;   // [D/2]
        Tensor invFreq = tensor(_theta, ScalarType.Float32, positions.device).pow(exponents).reciprocal();          // [D/2], as 1 / θ ** x
        Tensor freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * invFreq;    // [B, L, 1] · [D/2] -> [B, L, D/2]
        Tensor emb = cat([freqs, freqs], -1);                                       // [B, L, D]
        return (emb.cos().to(dtype).MoveToOuterDisposeScope(), emb.sin().to(dtype).MoveToOuterDisposeScope());
    }
}
