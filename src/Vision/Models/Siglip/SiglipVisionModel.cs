// SigLIP vision tower, as transformers' SiglipVisionModel: a ViT without class token, learned absolute position
// embeddings, pre-LayerNorm blocks with tanh-GELU MLPs, a post-LayerNorm and a multihead-attention-pooling ("MAP") head.
// so400m/14 at 384 px: 27×27 = 729 patches (the "valid" patch convolution drops the last 6 pixels), width 1152, 27 layers.
// Used by LongVILA with feature layer −2 (the output of layer 26 of 27, before post_layernorm); see ALGORITHMS.md §4.1.
// Paper: Zhai et al. 2023, Sigmoid Loss for Language Image Pre-Training, https://arxiv.org/abs/2303.15343.
// Reference: huggingface/transformers v5.17, src/transformers/models/siglip/modeling_siglip.py (SiglipVisionEmbeddings,
// SiglipAttention, SiglipMLP, SiglipEncoderLayer, SiglipEncoder, SiglipVisionTransformer,
// SiglipMultiheadAttentionPoolingHead, SiglipVisionModel); the fixtures in tests/fixtures/reference/siglip come from it.
// Checkpoint keys are the field names below, under "vision_model." (the Hub's SiglipVisionModel/SiglipModel state dicts;
// transformers 5 saves them without the prefix, which CheckpointMap adds back).

using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using VideoLong.Vision.Layers;

namespace VideoLong.Vision.Models.Siglip;

/// <summary>
/// What <see cref="SiglipVisionModel"/> returns (transformers' <c>BaseModelOutputWithPooling</c>). Disposing it
/// disposes every tensor in it.
/// </summary>
public sealed class SiglipVisionOutput : IDisposable
{
    internal SiglipVisionOutput(Tensor lastHiddenState, Tensor? poolerOutput, IReadOnlyList<Tensor>? hiddenStates)
    {
        LastHiddenState = lastHiddenState;
        PoolerOutput = poolerOutput;
        HiddenStates = hiddenStates;
    }

    /// <summary>[B, N, D]: the last layer's output after <c>post_layernorm</c>.</summary>
    public Tensor LastHiddenState { get; }

    /// <summary>[B, D]: the attention-pooling head's output; <c>null</c> when <c>vision_use_head</c> is false.</summary>
    public Tensor? PoolerOutput { get; }

    /// <summary>
    /// num_hidden_layers + 1 tensors [B, N, D] when asked for, as transformers' <c>hidden_states</c>: [0] is the
    /// embeddings' output, [i] the output of layer i (the last one before <c>post_layernorm</c>).
    /// </summary>
    public IReadOnlyList<Tensor>? HiddenStates { get; }

    public void Dispose()
    {
        LastHiddenState.Dispose();
        PoolerOutput?.Dispose();
        foreach (Tensor t in HiddenStates ?? [])
        {
            t.Dispose();
        }
    }
}

/// <summary>
/// The SigLIP vision tower. Pixel values are [B, C, image_size, image_size] floats, normalised as
/// <see cref="PixelNormalization.Siglip"/> does; they are converted to the weights' dtype and device.
/// </summary>
public sealed class SiglipVisionModel : Module<Tensor, SiglipVisionOutput>, IVisionTower
{
    private readonly SiglipVisionTransformer vision_model;

    public SiglipVisionModel(SiglipVisionConfig config, Device? device = null, ScalarType? dtype = null)
        : base(nameof(SiglipVisionModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        vision_model = new SiglipVisionTransformer(config, device, dtype);
        RegisterComponents();
    }

    public SiglipVisionConfig Config { get; }

    /// <summary>
    /// How checkpoint keys map to ours. Hub checkpoints (saved by transformers 4.x, and VILA's towers) name tensors
    /// <c>vision_model.*</c> and match one to one. transformers 5 saves a SiglipVisionModel without that prefix
    /// (<c>embeddings.*</c>, <c>encoder.*</c>, <c>post_layernorm.*</c>, <c>head.*</c>, as in the reference fixtures); those
    /// keys are given it. From a full <c>SiglipModel</c> (vision + text) the text tower and the logit scale/bias are skipped.
    /// </summary>
    public static WeightMap CheckpointMap { get; } = new()
    {
        Renames = [(new Regex(@"^(embeddings|encoder|post_layernorm|head)\.", RegexOptions.CultureInvariant), "vision_model.$1.")],
        Ignored = [new Regex(@"^text_model\.", RegexOptions.CultureInvariant), new Regex(@"^logit_(scale|bias)$", RegexOptions.CultureInvariant)],
    };

    /// <summary>
    /// Loads <c>config.json</c> and <c>model.safetensors</c> (or its shards) from <paramref name="directory"/> strictly:
    /// a missing, unexpected or mis-shaped tensor fails with a <see cref="WeightLoadException"/> naming it. The model
    /// comes back in eval mode without gradients, by default in float32 on the CPU and bfloat16 on CUDA.
    /// </summary>
    public static async Task<SiglipVisionModel> FromPretrainedAsync(string directory, ModelLoadOptions? options = null,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new ModelLoadOptions();
        SiglipVisionConfig config = await SiglipVisionConfig.FromFileAsync(Path.Combine(directory, "config.json"), cancellationToken);
        (Device device, ScalarType dtype) = options.Resolve();
        return await Task.Run(() =>
        {
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory);
            var model = new SiglipVisionModel(config, device, dtype);
            try
            {
                WeightLoader.LoadStrict(model, checkpoint, config.Describe(), CheckpointMap, progress, cancellationToken);
                foreach (Parameter p in model.parameters())
                {
                    p.requires_grad = false;
                }

                model.eval();
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }, cancellationToken);
    }

    /// <summary>last_hidden_state and pooler_output, without the per-layer hidden states.</summary>
    public override SiglipVisionOutput forward(Tensor pixelValues) => forward(pixelValues, outputHiddenStates: false);

    /// <summary>last_hidden_state, pooler_output and, with <paramref name="outputHiddenStates"/>, every layer's output.</summary>
    public SiglipVisionOutput forward(Tensor pixelValues, bool outputHiddenStates)
    {
        CheckPixels(pixelValues);
        return vision_model.forward(pixelValues, outputHiddenStates);
    }

    /// <summary>
    /// hidden_states[<paramref name="featureLayer"/>] alone, [B, N, D], indexed as transformers does: 0 is the
    /// embeddings' output, L the last layer's (before post_layernorm), and negative values count from the end
    /// (−1 = L, −2 = L − 1, LongVILA's choice). Layers after the requested one are not run.
    /// </summary>
    public Tensor ForwardFeatures(Tensor pixelValues, int featureLayer)
    {
        int layers = Config.NumHiddenLayers;
        if (featureLayer < -(layers + 1) || featureLayer > layers)
        {
            throw new ArgumentOutOfRangeException(nameof(featureLayer), featureLayer,
                $"Feature layer must be in [{-(layers + 1)}, {layers}] for {layers} layers (0 = embeddings, −1 = last layer).");
        }

        CheckPixels(pixelValues);
        return vision_model.ForwardFeatures(pixelValues, featureLayer < 0 ? layers + 1 + featureLayer : featureLayer);
    }

    private void CheckPixels(Tensor pixelValues)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        long[] shape = pixelValues.shape;
        int size = Config.ImageSize;
        if (shape.Length != 4 || shape[0] < 1 || shape[1] != Config.NumChannels || shape[2] != size || shape[3] != size)
        {
            throw new ModelInputException(nameof(pixelValues), shape,
                $"Pixel values must be [B, {Config.NumChannels}, {size}, {size}] with B ≥ 1; got [{string.Join(", ", shape)}]. " +
                $"Hint: resize frames to {size}×{size} before normalising.");
        }

        if (!pixelValues.is_floating_point())
        {
            throw new ModelInputException(nameof(pixelValues), shape,
                $"Pixel values must be floating point (normalised), not {pixelValues.dtype}. Hint: PixelNormalizer.ToPlanar.");
        }
    }
}

/// <summary>vision_model: embeddings → encoder → post_layernorm (→ head).</summary>
internal sealed class SiglipVisionTransformer : Module
{
    private readonly SiglipVisionEmbeddings embeddings;
    private readonly SiglipEncoder encoder;
    private readonly LayerNorm post_layernorm;
    private readonly SiglipMultiheadAttentionPoolingHead? head;
    private readonly int _numLayers;

    public SiglipVisionTransformer(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipVisionTransformer))
    {
        _numLayers = config.NumHiddenLayers;
        embeddings = new SiglipVisionEmbeddings(config, device, dtype);
        encoder = new SiglipEncoder(config, device, dtype);
        post_layernorm = LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        head = config.VisionUseHead ? new SiglipMultiheadAttentionPoolingHead(config, device, dtype) : null;
        RegisterComponents();
    }

    public SiglipVisionOutput forward(Tensor pixelValues, bool outputHiddenStates)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor hidden = embeddings.forward(pixelValues);                           // [B, N, D]
        List<Tensor>? hiddenStates = outputHiddenStates ? [hidden] : null;
        Tensor encoded = encoder.Run(hidden, _numLayers, hiddenStates);           // [B, N, D]
        Tensor lastHiddenState = post_layernorm.forward(encoded);                 // [B, N, D]
        Tensor? pooled = head?.forward(lastHiddenState);                          // [B, D]

        return new SiglipVisionOutput(
            lastHiddenState.MoveToOuterDisposeScope(),
            pooled?.MoveToOuterDisposeScope(),
            hiddenStates?.Select(h => h.MoveToOuterDisposeScope()).ToArray());
    }

    /// <summary>hidden_states[index] for 0 ≤ index ≤ L, running layers 1..index only.</summary>
    public Tensor ForwardFeatures(Tensor pixelValues, int index)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor hidden = embeddings.forward(pixelValues);                           // [B, N, D]
        Tensor features = encoder.Run(hidden, index, hiddenStates: null);         // [B, N, D]
        return features.MoveToOuterDisposeScope();
    }
}

/// <summary>vision_model.embeddings: patch convolution + learned position embedding (one per patch, no class token).</summary>
internal sealed class SiglipVisionEmbeddings : Module<Tensor, Tensor>
{
    private readonly Conv2d patch_embedding;     // weight [D, C, P, P], bias [D]
    private readonly Embedding position_embedding;   // weight [N, D]

    public SiglipVisionEmbeddings(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipVisionEmbeddings))
    {
        patch_embedding = Conv2d(config.NumChannels, config.HiddenSize, kernel_size: config.PatchSize, stride: config.PatchSize,
            device: device, dtype: dtype);
        position_embedding = Embedding(config.NumPatches, config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)                              // [B, C, S, S]
    {
        using DisposeScope scope = NewDisposeScope();
        Parameter weight = patch_embedding.weight!;
        Tensor pixels = pixelValues.to(weight.dtype, weight.device);               // as HF: cast to the weights' dtype
        Tensor patches = patch_embedding.forward(pixels);                         // [B, C, S, S] -> [B, D, g, g]  (g = ⌊S/P⌋)
        Tensor tokens = patches.flatten(2).transpose(1, 2);                       // [B, D, g, g] -> [B, g·g, D]  (raster order)
        Tensor embeddings = tokens + position_embedding.weight!;                  // + [N, D] (position_ids = 0..N−1)
        return embeddings.MoveToOuterDisposeScope();
    }
}

/// <summary>vision_model.encoder: the stack of pre-LayerNorm transformer layers.</summary>
internal sealed class SiglipEncoder : Module
{
    private readonly ModuleList<SiglipEncoderLayer> layers;

    public SiglipEncoder(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipEncoder))
    {
        layers = new ModuleList<SiglipEncoderLayer>(
            Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new SiglipEncoderLayer(config, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>
    /// Runs the first <paramref name="count"/> layers on <paramref name="inputsEmbeds"/> [B, N, D]. With
    /// <paramref name="hiddenStates"/>, each layer's output is appended to it (HF's hidden_states[1..count]); without,
    /// intermediate outputs are released as soon as the next layer has consumed them.
    /// </summary>
    public Tensor Run(Tensor inputsEmbeds, int count, List<Tensor>? hiddenStates)
    {
        Tensor hidden = inputsEmbeds;                                               // [B, N, D]
        for (int i = 0; i < count; i++)
        {
            Tensor next = layers[i].forward(hidden);                               // [B, N, D]
            if (hiddenStates is null && !ReferenceEquals(hidden, inputsEmbeds))
            {
                hidden.Dispose();
            }

            hiddenStates?.Add(next);
            hidden = next;
        }

        return hidden;
    }
}

/// <summary>vision_model.encoder.layers.{i}: x + attn(LN1(x)), then x + mlp(LN2(x)).</summary>
internal sealed class SiglipEncoderLayer : Module<Tensor, Tensor>
{
    private readonly LayerNorm layer_norm1;
    private readonly SiglipAttention self_attn;
    private readonly LayerNorm layer_norm2;
    private readonly SiglipMLP mlp;

    public SiglipEncoderLayer(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipEncoderLayer))
    {
        layer_norm1 = LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        self_attn = new SiglipAttention(config, device, dtype);
        layer_norm2 = LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        mlp = new SiglipMLP(config, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)                              // [B, N, D]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor attended = hiddenStates + self_attn.forward(layer_norm1.forward(hiddenStates));   // [B, N, D]
        Tensor output = attended + mlp.forward(layer_norm2.forward(attended));                   // [B, N, D]
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>self_attn: multi-head self-attention without mask, scale head_dim^−0.5, through scaled_dot_product_attention.</summary>
internal sealed class SiglipAttention : Module<Tensor, Tensor>
{
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear q_proj;
    private readonly Linear out_proj;
    private readonly long _numHeads;
    private readonly long _headDim;

    public SiglipAttention(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipAttention))
    {
        _numHeads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        k_proj = Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        v_proj = Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        q_proj = Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        out_proj = Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)                              // [B, N, D]
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = hiddenStates.shape[0];
        long tokens = hiddenStates.shape[1];
        Tensor q = LinearOps.Apply(q_proj, hiddenStates).view(batch, tokens, _numHeads, _headDim).transpose(1, 2);   // [B, N, D] -> [B, h, N, d]
        Tensor k = LinearOps.Apply(k_proj, hiddenStates).view(batch, tokens, _numHeads, _headDim).transpose(1, 2);   // [B, N, D] -> [B, h, N, d]
        Tensor v = LinearOps.Apply(v_proj, hiddenStates).view(batch, tokens, _numHeads, _headDim).transpose(1, 2);   // [B, N, D] -> [B, h, N, d]
        Tensor attended = functional.scaled_dot_product_attention(q, k, v);                                 // [B, h, N, d], scale d^−0.5
        Tensor merged = attended.transpose(1, 2).reshape(batch, tokens, _numHeads * _headDim);               // [B, h, N, d] -> [B, N, D]
        return LinearOps.Apply(out_proj, merged).MoveToOuterDisposeScope();
    }
}

/// <summary>mlp: fc1 → hidden_act → fc2.</summary>
internal sealed class SiglipMLP : Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly bool _tanhGelu;

    public SiglipMLP(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipMLP))
    {
        // gelu_pytorch_tanh and gelu_new are the tanh approximation; gelu is the exact (erf) form.
        _tanhGelu = config.HiddenAct != "gelu";
        fc1 = Linear(config.HiddenSize, config.IntermediateSize, device: device, dtype: dtype);
        fc2 = Linear(config.IntermediateSize, config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)                              // [B, N, D]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor up = LinearOps.Apply(fc1, hiddenStates);                                       // [B, N, I]
        Tensor activated = _tanhGelu ? functional.gelu(up, TorchSharp.Modules.GELU.Approximate.tanh) : functional.gelu(up);   // [B, N, I]
        return LinearOps.Apply(fc2, activated).MoveToOuterDisposeScope();                   // [B, N, D]
    }
}

/// <summary>
/// vision_model.head: one learned query (probe) attends over all patches, then a residual MLP; pooler_output is that
/// query's output. The attention is a torch.nn.MultiheadAttention (batch_first), hence its packed in_proj keys.
/// </summary>
internal sealed class SiglipMultiheadAttentionPoolingHead : Module<Tensor, Tensor>
{
    private readonly Parameter probe;                 // [1, 1, D]
    private readonly SiglipPoolingAttention attention;
    private readonly LayerNorm layernorm;
    private readonly SiglipMLP mlp;

    public SiglipMultiheadAttentionPoolingHead(SiglipVisionConfig config, Device? device, ScalarType? dtype)
        : base(nameof(SiglipMultiheadAttentionPoolingHead))
    {
        probe = Parameter(randn(1, 1, config.HiddenSize, dtype: dtype, device: device));
        attention = new SiglipPoolingAttention(config, device, dtype);
        layernorm = LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        mlp = new SiglipMLP(config, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)                              // [B, N, D]
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor query = probe.expand(hiddenStates.shape[0], -1, -1);                   // [1, 1, D] -> [B, 1, D]
        Tensor attended = attention.forward(query, hiddenStates);                   // [B, 1, D]
        Tensor pooled = attended + mlp.forward(layernorm.forward(attended));         // [B, 1, D]
        return pooled.select(1, 0).MoveToOuterDisposeScope();                       // [B, 1, D] -> [B, D]
    }
}

/// <summary>
/// head.attention: torch.nn.MultiheadAttention(D, heads, batch_first=True) with packed q/k/v weights
/// (in_proj_weight [3D, D] = [W_q; W_k; W_v], in_proj_bias [3D]) and out_proj.
/// </summary>
internal sealed class SiglipPoolingAttention : Module<Tensor, Tensor, Tensor>
{
    private readonly Parameter in_proj_weight;
    private readonly Parameter in_proj_bias;
    private readonly Linear out_proj;
    private readonly long _numHeads;
    private readonly long _headDim;

    public SiglipPoolingAttention(SiglipVisionConfig config, Device? device, ScalarType? dtype) : base(nameof(SiglipPoolingAttention))
    {
        _numHeads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        long width = config.HiddenSize;
        in_proj_weight = Parameter(empty(3 * width, width, dtype: dtype, device: device));
        in_proj_bias = Parameter(zeros(3 * width, dtype: dtype, device: device));
        using (no_grad())
        {
            init.xavier_uniform_(in_proj_weight);                                   // as torch.nn.MultiheadAttention
        }

        out_proj = Linear(width, width, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor query, Tensor keyValue)                   // [B, Q, D], [B, N, D]
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = query.shape[0];
        long queries = query.shape[1];
        long tokens = keyValue.shape[1];
        Tensor[] w = in_proj_weight.chunk(3, 0);                                     // 3 × [D, D]
        Tensor[] b = in_proj_bias.chunk(3, 0);                                       // 3 × [D]
        Tensor q = functional.linear(query, w[0], b[0]).view(batch, queries, _numHeads, _headDim).transpose(1, 2);   // [B, Q, D] -> [B, h, Q, d]
        Tensor k = functional.linear(keyValue, w[1], b[1]).view(batch, tokens, _numHeads, _headDim).transpose(1, 2); // [B, N, D] -> [B, h, N, d]
        Tensor v = functional.linear(keyValue, w[2], b[2]).view(batch, tokens, _numHeads, _headDim).transpose(1, 2); // [B, N, D] -> [B, h, N, d]
        Tensor attended = functional.scaled_dot_product_attention(q, k, v);                                         // [B, h, Q, d]
        Tensor merged = attended.transpose(1, 2).reshape(batch, queries, _numHeads * _headDim);                      // [B, h, Q, d] -> [B, Q, D]
        return LinearOps.Apply(out_proj, merged).MoveToOuterDisposeScope();
    }
}
