using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace VideoLong.Pipeline.Training;

/// <summary>The training run of VideoLong-Tiny (a JSON file; every key optional, defaults below).</summary>
public sealed record TinyTrainConfig
{
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1;
    [JsonPropertyName("device")] public string Device { get; init; } = "cpu";
    [JsonPropertyName("steps")] public int Steps { get; init; } = 3000;
    /// <summary>Shrink <see cref="Steps"/> after the first steps so the run ends within <see cref="TimeLimitSeconds"/> (the schedule follows).</summary>
    [JsonPropertyName("fit_steps_to_time")] public bool FitStepsToTime { get; init; } = true;
    [JsonPropertyName("time_limit_seconds")] public double TimeLimitSeconds { get; init; } = 420;
    [JsonPropertyName("batch")] public int Batch { get; init; } = 48;
    [JsonPropertyName("frames")] public int Frames { get; init; } = 16;
    [JsonPropertyName("needle_frames")] public int NeedleFrames { get; init; } = 64;
    [JsonPropertyName("needle_batch")] public int NeedleBatch { get; init; } = 12;
    /// <summary>Every N-th step is a needle batch (long haystack); 0 = never.</summary>
    [JsonPropertyName("needle_every")] public int NeedleEvery { get; init; } = 4;
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 1e-3;
    [JsonPropertyName("min_lr_ratio")] public double MinLearningRateRatio { get; init; } = 0.05;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 150;
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.05;
    [JsonPropertyName("clip_norm")] public double ClipNorm { get; init; } = 1.0;
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 500;
    [JsonPropertyName("log_every")] public int LogEvery { get; init; } = 25;
    [JsonPropertyName("max_merges")] public int MaxMerges { get; init; } = 600;
    [JsonPropertyName("eval_per_task")] public int EvalPerTask { get; init; } = 0;
    [JsonPropertyName("prefetch")] public int Prefetch { get; init; } = 8;
    [JsonPropertyName("model")] public TinyModelShape Model { get; init; } = new();
    /// <summary>Start from the weights of this model folder (model.safetensors of the same shape and tokenizer) instead of a random initialisation.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }
    /// <summary>
    /// With <c>model.vision_tower</c> "resnet18": start the tower from these weights (after the random initialisation, before
    /// <see cref="InitFrom"/>): ML.NET's ResNet18.onnx (Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1), or the tower's
    /// safetensors that <c>videolong resnet18-export</c> writes from it (e.g. artifacts/resnet18-imagenet-layer3.safetensors).
    /// </summary>
    [JsonPropertyName("init_vision_from")] public string? InitVisionFrom { get; init; }

    /// <summary>
    /// Sampling weights of the short tasks, e.g. { "number": 3, "word": 3 }: a task not named keeps weight 1, weight 0
    /// leaves it out. Null: the short tasks in strict rotation (equal shares). The needle task is set by needle_every.
    /// </summary>
    [JsonPropertyName("task_weights")] public Dictionary<string, double>? TaskWeights { get; init; }

    /// <summary>
    /// V2PE strides (δ = stride/256 per visual token, as <c>--v2pe-stride</c>; 256 = standard positions) drawn per
    /// sample, so the model learns variable visual increments; a stride may repeat to weigh it more. Null: standard positions.
    /// </summary>
    [JsonPropertyName("v2pe_strides")] public int[]? V2peStrides { get; init; }

    /// <summary>
    /// A folder of real-footage frames (PNG or JPEG, e.g. written by <c>videolong frames</c>; read in name order, resized
    /// to the frame size) played under the objects of <see cref="BackgroundFraction"/> of the samples and as needle
    /// haystacks. Null: procedural backgrounds only.
    /// </summary>
    [JsonPropertyName("backgrounds")] public string? Backgrounds { get; init; }

    /// <summary>The share of samples on footage when <see cref="Backgrounds"/> is set (0 … 1).</summary>
    [JsonPropertyName("background_fraction")] public double BackgroundFraction { get; init; } = 0.5;

    private static readonly JsonSerializerOptions Strict = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    public static TinyTrainConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new VideoLongException($"Training config '{path}' does not exist (a JSON file; see models/videolong-tiny/train-stage5.json).");
        }

        try
        {
            TinyTrainConfig config = JsonSerializer.Deserialize<TinyTrainConfig>(File.ReadAllText(path), Strict)
                ?? throw new VideoLongException($"Training config '{path}' is empty.");
            config.Validate(path);
            return config;
        }
        catch (JsonException e)
        {
            throw new VideoLongException($"Training config '{path}' is not valid: {e.Message}");
        }
    }

    public void Validate(string source)
    {
        if (Steps < 1 || Batch < 1 || Frames < 4 || NeedleFrames < 4 || NeedleBatch < 1 || NeedleEvery < 0 || !(LearningRate > 0) || WarmupSteps < 0 || !(ClipNorm > 0) || CheckpointEvery < 1 || LogEvery < 1 || Prefetch < 1)
        {
            throw new VideoLongException($"{source}: steps, batch, needle_batch, checkpoint_every, log_every, prefetch must be ≥ 1, frames ≥ 4, lr and clip_norm > 0, warmup_steps and needle_every ≥ 0.");
        }

        if (TaskWeights is { } weights)
        {
            string[] shortTasks = SyntheticVideos.Tasks.Where(t => t != "needle").ToArray();
            foreach ((string task, double weight) in weights)
            {
                if (!shortTasks.Contains(task))
                {
                    throw new VideoLongException($"{source}: task_weights names '{task}', which is not a short task; accepted: {string.Join(", ", shortTasks)} (the needle task's share is set by needle_every).");
                }

                if (!(weight >= 0) || double.IsInfinity(weight))
                {
                    throw new VideoLongException($"{source}: task_weights[\"{task}\"] is {weight}; a weight must be a finite number ≥ 0 (0 leaves the task out, tasks not named weigh 1).");
                }
            }

            if (shortTasks.All(t => weights.GetValueOrDefault(t, 1) == 0))
            {
                throw new VideoLongException($"{source}: task_weights leaves every short task at weight 0; at least one must be > 0.");
            }
        }

        if (V2peStrides is { } strides)
        {
            if (strides.Length == 0 || strides.Any(x => x < 1 || x > 256))
            {
                throw new VideoLongException($"{source}: v2pe_strides must be a non-empty list of strides in [1, 256] (δ = stride/256 per visual token; 256 = standard positions), e.g. [256, 64, 16]; got [{string.Join(", ", strides)}].");
            }
        }

        if (!(BackgroundFraction is >= 0 and <= 1))
        {
            throw new VideoLongException($"{source}: background_fraction must lie in [0, 1] (the share of samples on footage); got {BackgroundFraction}.");
        }

        if (Backgrounds is { } folder && !Directory.Exists(folder))
        {
            throw new VideoLongException($"{source}: backgrounds folder '{folder}' does not exist (a folder of PNG/JPEG frames, e.g. samples/media/haystack_frames64 from samples/niah/make-haystack-frames.sh).");
        }

        if (Model.VisionTower is not (TinyModelShape.Siglip or TinyModelShape.ResNet18))
        {
            throw new VideoLongException($"{source}: model.vision_tower '{Model.VisionTower}' is not supported ({TinyModelShape.Siglip} or {TinyModelShape.ResNet18}).");
        }

        if (Model.VisionTower == TinyModelShape.ResNet18 && (Model.ImageSize < 16 || Model.ImageSize % 16 != 0))
        {
            throw new VideoLongException($"{source}: model.image_size ({Model.ImageSize}) must be a positive multiple of 16 for the resnet18 tower (stride 16 after layer3; 64 gives 16 tokens per frame).");
        }

        if (InitVisionFrom is not null && Model.VisionTower != TinyModelShape.ResNet18)
        {
            throw new VideoLongException($"{source}: init_vision_from needs model.vision_tower '{TinyModelShape.ResNet18}' (ImageNet ResNet18 weights).");
        }

        Model.Validate(source);
    }

    /// <summary>Each short task's share of the short-task samples (weights normalised; tasks not named weigh 1); null without task_weights.</summary>
    public IReadOnlyList<(string Task, double Share)>? TaskShares()
    {
        if (TaskWeights is not { } weights)
        {
            return null;
        }

        var tasks = SyntheticVideos.Tasks.Where(t => t != "needle").Select(t => (Task: t, Weight: weights.GetValueOrDefault(t, 1))).ToArray();
        double total = tasks.Sum(t => t.Weight);
        return tasks.Select(t => (t.Task, t.Weight / total)).ToArray();
    }
}

/// <summary>The size of the model (SigLIP or ResNet18 tower + projector + Qwen2 decoder).</summary>
public sealed record TinyModelShape
{
    public const string Siglip = "siglip";
    public const string ResNet18 = "resnet18";

    /// <summary>
    /// "siglip": a ViT from scratch (patch_size, vision_hidden, vision_layers, vision_heads; features 2×2-pooled per frame);
    /// "resnet18": ResNet18 up to layer3 (256 channels, stride 16, no pooling: 16 tokens per 64² frame; the vision_* sizes
    /// and patch_size are not used), optionally from ImageNet weights (init_vision_from).
    /// </summary>
    [JsonPropertyName("vision_tower")] public string VisionTower { get; init; } = Siglip;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 64;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 8;
    [JsonPropertyName("vision_hidden")] public int VisionHidden { get; init; } = 192;
    [JsonPropertyName("vision_layers")] public int VisionLayers { get; init; } = 4;
    [JsonPropertyName("vision_heads")] public int VisionHeads { get; init; } = 3;
    [JsonPropertyName("text_hidden")] public int TextHidden { get; init; } = 256;
    [JsonPropertyName("text_layers")] public int TextLayers { get; init; } = 4;
    [JsonPropertyName("text_heads")] public int TextHeads { get; init; } = 4;
    [JsonPropertyName("text_kv_heads")] public int TextKvHeads { get; init; } = 2;
    [JsonPropertyName("text_intermediate")] public int TextIntermediate { get; init; } = 768;

    /// <summary>
    /// Visual tokens per video frame: ⌈g/2⌉² (2×2 pooling of the g×g patch grid, LLaVA-OneVision's default; 16 for 64 px
    /// frames of 8 px patches) or g² (no pooling; 64). Written to config.json as <c>spatial_pool_stride</c> (2 or 1), which
    /// every loader of the model reads. Null: ⌈g/2⌉².
    /// </summary>
    [JsonPropertyName("tokens_per_frame")] public int? TokensPerFrame { get; init; }

    /// <summary>Patches per side of a frame.</summary>
    [JsonIgnore] public int Grid => PatchSize > 0 ? ImageSize / PatchSize : 0;

    /// <summary>The spatial_pool_stride for <see cref="TokensPerFrame"/> (2 by default).</summary>
    [JsonIgnore] public int SpatialPoolStride => TokensPerFrame is { } t && t == Grid * Grid && t != PooledTokens ? 1 : 2;

    private int PooledTokens => ((Grid + 1) / 2) * ((Grid + 1) / 2);

    public void Validate(string source)
    {
        if (ImageSize < 48 || PatchSize < 1 || ImageSize % PatchSize != 0)
        {
            throw new VideoLongException($"{source}: model.image_size must be ≥ 48 and a multiple of model.patch_size (got {ImageSize} and {PatchSize}).");
        }

        if (VisionTower == ResNet18 && TokensPerFrame is { } r && r != (ImageSize / 16) * (ImageSize / 16))
        {
            throw new VideoLongException($"{source}: the resnet18 tower gives (image_size/16)² = {(ImageSize / 16) * (ImageSize / 16)} tokens per frame (stride 16, not pooled); model.tokens_per_frame {r} is not possible with it.");
        }

        if (VisionTower != ResNet18 && TokensPerFrame is { } t && t != PooledTokens && t != Grid * Grid)
        {
            throw new VideoLongException($"{source}: model.tokens_per_frame {t} is not possible for a {Grid}×{Grid} patch grid: use {PooledTokens} (2×2 pooling) or {Grid * Grid} (no pooling).");
        }
    }

    /// <summary>The LLaVA-OneVision config.json of this shape for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public JsonObject ConfigJson(int vocabSize, int imageTokenId, int videoTokenId) => new()
    {
        ["architectures"] = new JsonArray("LlavaOnevisionForConditionalGeneration"),
        ["model_type"] = "llava_onevision",
        ["name"] = "VideoLong-Tiny",
        ["dtype"] = "bfloat16",
        ["image_token_index"] = imageTokenId,
        ["video_token_index"] = videoTokenId,
        ["image_grid_pinpoints"] = new JsonArray(new JsonArray(ImageSize, ImageSize)),
        ["multimodal_projector_bias"] = true,
        ["projector_hidden_act"] = "gelu",
        ["tie_word_embeddings"] = true,
        ["vision_aspect_ratio"] = "anyres_max_1",
        ["vision_feature_layer"] = -1,
        ["vision_feature_select_strategy"] = "full",
        ["spatial_pool_stride"] = SpatialPoolStride,
        ["text_config"] = new JsonObject
        {
            ["model_type"] = "qwen2",
            ["hidden_act"] = "silu",
            ["hidden_size"] = TextHidden,
            ["intermediate_size"] = TextIntermediate,
            ["num_hidden_layers"] = TextLayers,
            ["num_attention_heads"] = TextHeads,
            ["num_key_value_heads"] = TextKvHeads,
            ["max_position_embeddings"] = 32768,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = 10000.0,
            ["tie_word_embeddings"] = true,
            ["vocab_size"] = vocabSize,
            ["eos_token_id"] = 2,
            ["pad_token_id"] = 0,
            ["bos_token_id"] = null,
            ["use_sliding_window"] = false,
        },
        ["vision_config"] = VisionTower == ResNet18 ? new Vision.Models.ResNet.ResNet18VisionConfig { ImageSize = ImageSize, NumStages = 3 }.ToJson() : new JsonObject
        {
            ["model_type"] = "siglip_vision_model",
            ["hidden_act"] = "gelu_pytorch_tanh",
            ["hidden_size"] = VisionHidden,
            ["intermediate_size"] = VisionHidden * 4,
            ["num_hidden_layers"] = VisionLayers,
            ["num_attention_heads"] = VisionHeads,
            ["image_size"] = ImageSize,
            ["patch_size"] = PatchSize,
            ["num_channels"] = 3,
            ["layer_norm_eps"] = 1e-6,
            ["vision_use_head"] = false,
        },
    };
}
