// LLaVA-OneVision: SigLIP tower → 2-layer GELU projector → Qwen2, with anyres images (base tile + grid tiles, unpadded,
// a learned newline after every row) and videos (per-frame features, 2×2 bilinear pooling, one newline per video).
// Placeholder tokens (<image>, <video>) in the prompt are replaced by the features in order; their count must match.
// Reference: transformers src/transformers/models/llava_onevision/modeling_llava_onevision.py (v5.17: pack_image_features,
// get_image_features, get_video_features, apply_pooling, get_placeholder_mask); image_processing_utils.select_best_resolution.
using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Vision.Models;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Models.Siglip;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using VideoLong.Vision.Layers;

namespace VideoLong.Language.Models.LlavaOnevision;

/// <summary>Inputs of one LLaVA-OneVision forward: token ids with placeholders and the visual inputs they stand for.</summary>
public sealed class LlavaOnevisionInput
{
    /// <summary>[B, L] int64 ids, with one placeholder token per visual feature.</summary>
    public required Tensor InputIds { get; init; }

    /// <summary>[B, P, 3, S, S]: per image its base tile and grid tiles (as the LLaVA-OneVision processor makes them).</summary>
    public Tensor? PixelValues { get; init; }

    /// <summary>[B, 2] int64: original (height, width) of each image.</summary>
    public Tensor? ImageSizes { get; init; }

    /// <summary>[B, F, 3, S, S]: video frames.</summary>
    public Tensor? PixelValuesVideos { get; init; }

    public Tensor? AttentionMask { get; init; }

    /// <summary>Float position ids [B, L] (V2PE); null for 0..L−1.</summary>
    public Tensor? PositionIds { get; init; }

    public Qwen2KvCache? Cache { get; init; }

    public bool LastPositionLogitsOnly { get; init; }

    /// <summary>Long-video compression settings (HiCo merge instead of 2×2 pooling when TokensPerFrame is set).</summary>
    public VlmOptions? Options { get; init; }
}

/// <summary>The placeholders in the prompt and the visual features disagree in number.</summary>
public sealed class TokenFeatureMismatchException(string kind, long tokens, long features, string hint)
    : VideoLongException($"{kind} placeholder tokens and features do not match: {tokens} tokens, {features} features. {hint}")
{
    public long Tokens { get; } = tokens;

    public long Features { get; } = features;
}

/// <summary><c>LlavaOnevisionForConditionalGeneration</c>; module names follow the hub checkpoints' keys.</summary>
public sealed class LlavaOnevisionForConditionalGeneration : nn.Module<LlavaOnevisionInput, Qwen2CausalLMOutput>
{
    private readonly nn.Module vision_tower;                               // SigLIP: vision_tower.vision_model.*; ResNet18: vision_tower.conv1.*, vision_tower.layerN.*
    private readonly LlavaOnevisionMultiModalProjector multi_modal_projector; // multi_modal_projector.linear_{1,2}.*
    private readonly Parameter image_newline;                              // image_newline [H]
    private readonly Qwen2ForCausalLM language_model;                      // language_model.model.*, language_model.lm_head.weight

    public LlavaOnevisionForConditionalGeneration(LlavaOnevisionConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlavaOnevisionForConditionalGeneration))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        device ??= CPU;
        vision_tower = config.VisionConfig switch
        {
            SiglipVisionConfig siglip => new SiglipVisionModel(siglip, device, dtype),
            ResNet18VisionConfig resnet => new ResNet18VisionModel(resnet, device, dtype),
            var other => throw new VideoLongException($"Vision tower {other.Describe()} is not supported (SigLIP or resnet18_truncated)."),
        };
        multi_modal_projector = new LlavaOnevisionMultiModalProjector(config.VisionConfig.HiddenSize, config.TextConfig.HiddenSize,
            config.MultimodalProjectorBias, device, dtype);
        image_newline = new Parameter(zeros(config.TextConfig.HiddenSize, dtype: dtype, device: device), requires_grad: false);
        language_model = new Qwen2ForCausalLM(config.TextConfig, device, dtype);
        RegisterComponents();
        eval();                                                                    // inference by default; train() enables gradients
    }

    public LlavaOnevisionConfig Config { get; }

    public Qwen2ForCausalLM LanguageModel => language_model;

    /// <summary>The vision tower module (SiglipVisionModel or ResNet18VisionModel).</summary>
    public nn.Module VisionTower => vision_tower;

    /// <summary>
    /// Checkpoint names → ours. Hub checkpoints (transformers 4 layout) match as they are, except the SigLIP tower's
    /// prefix; transformers 5 writes <c>vision_tower.*</c> without <c>vision_model.</c> and its native layout uses
    /// <c>model.language_model.*</c>, <c>model.vision_tower.*</c>, <c>lm_head.weight</c>. A tied lm_head comes from the embeddings.
    /// A ResNet18 tower (VideoLong-Tiny, vision_config.model_type "resnet18_truncated") is stored under <c>vision_tower.</c> with
    /// torchvision's names (<c>vision_tower.conv1.weight</c>, <c>vision_tower.layer3.1.bn2.running_var</c>, …), as they are.
    /// </summary>
    public static WeightMap WeightMapFor(LlavaOnevisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        const RegexOptions Options = RegexOptions.CultureInvariant;
        return new WeightMap
        {
            Renames =
            [
                (new Regex(@"^model\.language_model\.", Options), "language_model.model."),
                (new Regex(@"^lm_head\.", Options), "language_model.lm_head."),
                (new Regex(@"^model\.(vision_tower|multi_modal_projector|image_newline)", Options), "$1"),
                (new Regex(@"^vision_tower\.(embeddings|encoder|post_layernorm|head)\.", Options), "vision_tower.vision_model.$1."),
            ],
            Tied = config.TieWordEmbeddings || config.TextConfig.TieWordEmbeddings
                ? new Dictionary<string, string> { ["language_model.lm_head.weight"] = "language_model.model.embed_tokens.weight" }
                : new Dictionary<string, string>(),
            Ignored = [new Regex(@"\.rotary_emb\.inv_freq$", Options)],
        };
    }

    /// <summary>Loads <c>config.json</c> and the safetensors weights of <paramref name="directory"/> strictly.</summary>
    public static Task<LlavaOnevisionForConditionalGeneration> FromPretrainedAsync(string directory, ModelLoadOptions? options = null,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new ModelLoadOptions();
        return Task.Run(() =>
        {
            LlavaOnevisionConfig config = LlavaOnevisionConfig.Load(directory);
            (Device device, ScalarType dtype) = options.Resolve();
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory);
            var model = new LlavaOnevisionForConditionalGeneration(config, device, dtype);
            try
            {
                WeightLoader.LoadStrict(model, checkpoint, $"LlavaOnevisionForConditionalGeneration ({config.TextConfig.NumHiddenLayers}-layer Qwen2)",
                    WeightMapFor(config), progress, cancellationToken);
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

    public override Qwen2CausalLMOutput forward(LlavaOnevisionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using IDisposable? noGrad = training ? null : no_grad();                   // train(): gradients flow (VideoLong-Tiny's trainer)
        using DisposeScope scope = NewDisposeScope();
        Tensor embeds = BuildInputsEmbeds(input);                                   // [B, L, H]
        Qwen2CausalLMOutput output = language_model.forward(new Qwen2CausalLMInput
        {
            InputsEmbeds = embeds,
            AttentionMask = input.AttentionMask,
            PositionIds = input.PositionIds,
            Cache = input.Cache,
            LastPositionLogitsOnly = input.LastPositionLogitsOnly,
        });
        output.Logits.MoveToOuterDisposeScope();
        output.HiddenStates?.MoveToOuterDisposeScope();
        return output;
    }

    /// <summary>Token embeddings with every placeholder replaced by its visual feature, in order ([B, L, H]).</summary>
    public Tensor BuildInputsEmbeds(LlavaOnevisionInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using IDisposable? noGrad = training ? null : no_grad();
        using DisposeScope scope = NewDisposeScope();
        Tensor ids = input.InputIds;
        Tensor embeds = language_model.EmbedTokens(ids);                            // [B, L, H]
        if (input.PixelValues is not null)
        {
            Tensor features = EncodeImages(input.PixelValues, input.ImageSizes
                ?? throw new VideoLongException("Images need their original sizes (ImageSizes [B, 2])."));
            embeds = Splice(embeds, ids, Config.ImageTokenIndex, features, "Image",
                "Hint: expand each <image> into as many tokens as LlavaOnevisionForConditionalGeneration.ImageTokenCount gives for its size.");
        }

        if (input.PixelValuesVideos is not null)
        {
            Tensor features = EncodeVideos(input.PixelValuesVideos, input.Options);
            embeds = Splice(embeds, ids, Config.VideoTokenIndex, features, "Video",
                input.Options?.TokensPerFrame is { } tpf
                    ? $"Hint: with HiCo a video of F frames takes F·{tpf} + 1 tokens, and F must be a multiple of the clip length ({input.Options.ClipLength})."
                    : "Hint: a video of F frames takes F·⌈g/2⌉² + 1 tokens (g = patches per side).");
        }

        return embeds.MoveToOuterDisposeScope();
    }

    /// <summary>Packed features of each image, concatenated: [Σ tokens, H].</summary>
    public Tensor EncodeImages(Tensor pixelValues, Tensor imageSizes)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        ArgumentNullException.ThrowIfNull(imageSizes);
        using DisposeScope scope = NewDisposeScope();
        long images = pixelValues.shape[0];
        long[][] sizes = Enumerable.Range(0, (int)images).Select(i => imageSizes[i].data<long>().ToArray()).ToArray();
        var packed = new List<Tensor>();
        for (int i = 0; i < images; i++)
        {
            int tiles = NumTiles((int)sizes[i][0], (int)sizes[i][1]);
            Tensor pixels = pixelValues[i].narrow(0, 0, tiles);                    // [P, 3, S, S]
            Tensor features = ProjectedFeatures(pixels);                           // [P, g², H]
            packed.Add(Pack(features, (int)sizes[i][0], (int)sizes[i][1]));
        }

        return cat(packed, 0).MoveToOuterDisposeScope();                           // [Σ, H]
    }

    /// <summary>
    /// Features of each video with a newline after each: 2×2-pooled, [B·(F·⌈g/2⌉² + 1), H]; or, with
    /// <see cref="VlmOptions.TokensPerFrame"/>, HiCo-merged per clip of <see cref="VlmOptions.ClipLength"/> frames
    /// before the projector (vision → merge → projector), [B·(F·tokensPerFrame + 1), H].
    /// </summary>
    /// <param name="pixelValuesVideos">[B, F, 3, S, S].</param>
    /// <param name="options">Clip-level merge and chunk size; null: the model's pooling, 64 frames a chunk.</param>
    /// <param name="framesDone">Called after each chunk with the frames of the current video encoded so far.</param>
    /// <param name="cancellationToken">Checked before each chunk: a cancelled encode stops between chunks.</param>
    public Tensor EncodeVideos(Tensor pixelValuesVideos, VlmOptions? options = null, Action<long>? framesDone = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pixelValuesVideos);
        using DisposeScope scope = NewDisposeScope();
        long b = pixelValuesVideos.shape[0], f = pixelValuesVideos.shape[1];
        int? tokensPerFrame = options?.TokensPerFrame;
        int clip = options?.ClipLength ?? 4;
        if (tokensPerFrame is not null && f % clip != 0)
        {
            throw new TokenFeatureMismatchException("Video", f, f - (f % clip),
                $"Hint: HiCo merges clips of {clip} frames; the frame count ({f}) must be a multiple of it.");
        }

        // Frames go through the tower in chunks (whole clips when merging), so memory stays bounded for 10,000 frames.
        int batch = Math.Max(1, options?.VisionBatchSize ?? 64);
        if (tokensPerFrame is null && b > 1 && b * f <= batch)
        {
            // Several short videos (a training batch): all frames through the tower at once; the same values as one by one.
            Tensor all = Pool(ProjectedFeatures(pixelValuesVideos.flatten(0, 1)));   // [B·F, ⌈g/2⌉², H]
            Tensor perVideo = all.reshape(b, -1, all.shape[2]);                      // [B, F·⌈g/2⌉², H]
            Tensor newlines = image_newline.reshape(1, 1, -1).to(perVideo.dtype).expand(b, 1, -1);   // [B, 1, H]
            return cat([perVideo, newlines], 1).reshape(-1, perVideo.shape[2]).MoveToOuterDisposeScope();   // [B·(F·t + 1), H]
        }

        long chunk = tokensPerFrame is null ? batch : Math.Max(clip, batch / clip * clip);
        var videos = new List<Tensor>();
        for (int i = 0; i < b; i++)
        {
            var pieces = new List<Tensor>();
            for (long start = 0; start < f; start += chunk)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using DisposeScope chunkScope = NewDisposeScope();
                Tensor frames = pixelValuesVideos[i].narrow(0, start, Math.Min(chunk, f - start));   // [n, 3, S, S]
                Tensor tokens;
                if (tokensPerFrame is { } tpf)
                {
                    Tensor selected = SelectedFeatures(frames);                    // [n, g², C]
                    Vision.Compression.HicoMergeResult merged = Vision.Compression.HicoMerger.MergeVideo(selected, tpf, clip);   // [n·tpf, C]
                    tokens = multi_modal_projector.forward(merged.Tokens);        // [n·tpf, H]
                }
                else
                {
                    tokens = Pool(ProjectedFeatures(frames)).flatten(0, 1);       // [n, ⌈g/2⌉², H] -> [n·⌈g/2⌉², H]
                }

                pieces.Add(tokens.MoveToOuterDisposeScope());
                framesDone?.Invoke(Math.Min(start + chunk, f));
            }

            pieces.Add(image_newline.reshape(1, -1).to(pieces[0].dtype));          // one newline per video
            videos.Add(cat(pieces, 0));                                            // [F·t + 1, H]
        }

        return cat(videos, 0).MoveToOuterDisposeScope();                           // [B·(F·t + 1), H]
    }

    /// <summary>How many tokens an image of <paramref name="height"/>×<paramref name="width"/> becomes (base + unpadded grid with newlines).</summary>
    public long ImageTokenCount(int height, int width)
    {
        int g = Config.VisionConfig.GridSize;
        (int rows, int columns) = GridShape(height, width);
        if (rows * columns == 0)
        {
            return (g * g) + 1;
        }

        (int h, int w) = UnpaddedSize(rows * g, columns * g, height, width);
        (h, w) = Limited(h, w);
        return (g * g) + (h * (w + 1));
    }

    /// <summary>Placeholder tokens one video of <paramref name="frames"/> frames takes.</summary>
    public long VideoTokenCount(int frames, VlmOptions? options = null)
    {
        int g = Config.VisionConfig.GridSize;
        long perFrame = options?.TokensPerFrame ?? (Config.PoolsVideoFeatures ? (long)PooledSide * PooledSide : (long)g * g);
        return (frames * perFrame) + 1;
    }

    /// <summary>The tower's features at the configured layer: [N, g², C].</summary>
    private Tensor SelectedFeatures(Tensor pixels)
    {
        Tensor selected = ((IVisionTower)vision_tower).ForwardFeatures(pixels, Config.VisionFeatureLayer);   // [N, g², C]
        return Config.VisionFeatureSelectStrategy == "default" ? selected.narrow(1, 1, selected.shape[1] - 1) : selected;
    }

    /// <summary>The tower's features at the configured layer, projected: [N, g², H].</summary>
    private Tensor ProjectedFeatures(Tensor pixels) => multi_modal_projector.forward(SelectedFeatures(pixels));   // [N, g², H]

    /// <summary>pack_image_features for one image: base tile, then the grid tiles stitched, unpadded, limited, with newlines.</summary>
    private Tensor Pack(Tensor features, int height, int width)
    {
        int g = Config.VisionConfig.GridSize;
        Tensor baseTile = features[0];                                            // [g², H]
        if (features.shape[0] == 1)
        {
            return cat([baseTile, image_newline.reshape(1, -1).to(baseTile.dtype)], 0);   // [g² + 1, H]
        }

        (int rows, int columns) = GridShape(height, width);
        Tensor grid = features.narrow(0, 1, features.shape[0] - 1)
            .view(rows, columns, g, g, -1)                                        // [r, c, g, g, H]
            .permute(4, 0, 2, 1, 3).contiguous()                                  // [H, r, g, c, g]
            .flatten(1, 2).flatten(2, 3);                                         // [H, r·g, c·g]
        (int h, int w) = UnpaddedSize(rows * g, columns * g, height, width);
        long top = (grid.shape[1] - h) / 2, left = (grid.shape[2] - w) / 2;
        grid = grid.narrow(1, top, h).narrow(2, left, w);                         // [H, h, w]
        (int lh, int lw) = Limited(h, w);
        if ((lh, lw) != (h, w))
        {
            grid = nn.functional.interpolate(grid.unsqueeze(0), size: [lh, lw], mode: InterpolationMode.Bilinear, align_corners: false)[0];
        }

        Tensor newline = image_newline.reshape(-1, 1, 1).expand(-1, lh, 1).to(grid.dtype);   // [H, h, 1]
        grid = cat([grid, newline], 2);                                           // [H, h, w + 1]
        Tensor tokens = grid.flatten(1, 2).transpose(0, 1);                       // [h·(w + 1), H]
        return cat([baseTile, tokens], 0);
    }

    /// <summary>Tokens per side of a pooled video frame: ⌈g / spatial_pool_stride⌉ (⌈g/2⌉ by default).</summary>
    private int PooledSide => (Config.VisionConfig.GridSize + Config.SpatialPoolStride - 1) / Config.SpatialPoolStride;

    /// <summary>
    /// apply_pooling: [N, g², H] → bilinear to ⌈g/2⌉×⌈g/2⌉ → [N, ⌈g/2⌉², H]; unchanged [N, g², H] with spatial_pool_stride 1
    /// or for a tower that is not pooled.
    /// </summary>
    private Tensor Pool(Tensor features)
    {
        if (!Config.PoolsVideoFeatures)
        {
            return features.alias();
        }

        int g = Config.VisionConfig.GridSize;
        if (Config.SpatialPoolStride == 1)
        {
            return features.alias();
        }

        long n = features.shape[0], hidden = features.shape[2];
        Tensor maps = features.view(n, g, g, -1).permute(0, 3, 1, 2).contiguous();   // [N, H, g, g]
        int half = PooledSide;
        Tensor pooled = nn.functional.interpolate(maps, size: [half, half], mode: InterpolationMode.Bilinear, align_corners: false);
        return pooled.permute(0, 2, 3, 1).reshape(n, -1, hidden);                 // [N, ⌈g/2⌉², H]
    }

    /// <summary>
    /// <paramref name="embeds"/> [B, L, H] with the rows where <paramref name="ids"/> [B, L] hold <paramref name="token"/>
    /// replaced, in order, by <paramref name="features"/> [N, H] (moved to the embeddings' dtype and device); N must equal
    /// the number of those rows, else <see cref="TokenFeatureMismatchException"/> with <paramref name="hint"/>.
    /// </summary>
    public static Tensor Splice(Tensor embeds, Tensor ids, int token, Tensor features, string kind, string hint)
    {
        ArgumentNullException.ThrowIfNull(embeds);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(features);
        Tensor mask = ids.eq(token);                                              // [B, L]
        long count = mask.sum().item<long>();
        if (count != features.shape[0])
        {
            throw new TokenFeatureMismatchException(kind, count, features.shape[0], hint);
        }

        Tensor expanded = mask.unsqueeze(-1).expand_as(embeds);                   // [B, L, H]
        return embeds.masked_scatter(expanded, features.to(embeds.dtype, embeds.device));
    }

    /// <summary>Tiles of an image: the base tile plus the grid of the best resolution (image_size_to_num_patches).</summary>
    private int NumTiles(int height, int width)
    {
        (int rows, int columns) = GridShape(height, width);
        return (rows * columns) + 1;
    }

    /// <summary>Grid rows and columns of tiles for the best pinpoint resolution (get_anyres_image_grid_shape).</summary>
    private (int Rows, int Columns) GridShape(int height, int width)
    {
        (int h, int w) = SelectBestResolution(height, width, Config.ImageGridPinpoints);
        int s = Config.VisionConfig.ImageSize;
        return (h / s, w / s);
    }

    /// <summary>select_best_resolution (shared with the image processor). Returns (height, width).</summary>
    public static (int Height, int Width) SelectBestResolution(int height, int width, IReadOnlyList<(int Height, int Width)> candidates) =>
        Vision.AnyresImageProcessor.SelectBestResolution(height, width, candidates);

    /// <summary>unpad_image: the part of a padded-and-resized feature grid that holds the image. Returns (height, width).</summary>
    public static (int Height, int Width) UnpaddedSize(int currentHeight, int currentWidth, int originalHeight, int originalWidth)
    {
        double originalAspect = (double)originalWidth / originalHeight;
        double currentAspect = (double)currentWidth / currentHeight;
        if (originalAspect > currentAspect)
        {
            double scale = (double)currentWidth / originalWidth;
            int newHeight = (int)Math.Round(originalHeight * scale, 7, MidpointRounding.ToEven);
            int padding = (currentHeight - newHeight) / 2;
            return (currentHeight - (2 * padding), currentWidth);
        }
        else
        {
            double scale = (double)currentHeight / originalHeight;
            int newWidth = (int)Math.Round(originalWidth * scale, 7, MidpointRounding.ToEven);
            int padding = (currentWidth - newWidth) / 2;
            return (currentHeight, currentWidth - (2 * padding));
        }
    }

    /// <summary>anyres_max_N: grids holding more than N tiles' worth of features are interpolated down (ratio > 1.1).</summary>
    private (int Height, int Width) Limited(int h, int w)
    {
        int g = Config.VisionConfig.GridSize;
        double ratio = Math.Sqrt((double)h * w / (Config.MaxTiles * g * g));
        return ratio > 1.1 ? ((int)Math.Floor(h / ratio), (int)Math.Floor(w / ratio)) : (h, w);
    }
}

/// <summary>multi_modal_projector: Linear(C → H) → GELU (exact) → Linear(H → H).</summary>
internal sealed class LlavaOnevisionMultiModalProjector : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1;
    private readonly Linear linear_2;

    public LlavaOnevisionMultiModalProjector(int visionHidden, int textHidden, bool bias, Device device, ScalarType dtype)
        : base(nameof(LlavaOnevisionMultiModalProjector))
    {
        linear_1 = nn.Linear(visionHidden, textHidden, hasBias: bias, device: device, dtype: dtype);
        linear_2 = nn.Linear(textHidden, textHidden, hasBias: bias, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor features)                               // [N, T, C] -> [N, T, H]
    {
        using DisposeScope scope = NewDisposeScope();
        return LinearOps.Apply(linear_2, nn.functional.gelu(LinearOps.Apply(linear_1, features))).MoveToOuterDisposeScope();
    }
}
