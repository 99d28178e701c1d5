using System.Text.Json;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Vision.Models;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Models.Siglip;

namespace VideoLong.Language.Models.LlavaOnevision;

/// <summary>
/// <c>LlavaOnevisionConfig</c> as in transformers: a SigLIP <c>vision_config</c>, a Qwen2 <c>text_config</c>, the
/// placeholder token ids, the feature layer and strategy, and the anyres grid. Validated on load; errors name the key.
/// </summary>
public sealed record LlavaOnevisionConfig
{
    /// <summary>The tower: SigLIP (<c>siglip_vision_model</c>) or VideoLong's truncated ResNet18 (<c>resnet18_truncated</c>).</summary>
    public required IVisionTowerConfig VisionConfig { get; init; }

    /// <summary>
    /// Whether video frames' features are 2×2-pooled before the projector (LLaVA-OneVision's apply_pooling). The ResNet18
    /// tower already gives 4×4 = 16 features per 64² frame, so its features are used as they are.
    /// </summary>
    public bool PoolsVideoFeatures => VisionConfig is not ResNet18VisionConfig;

    public required Qwen2Config TextConfig { get; init; }

    public required int ImageTokenIndex { get; init; }

    public required int VideoTokenIndex { get; init; }

    /// <summary>hidden_states index of the vision tower (transformers' indexing; −1 is the last layer before post_layernorm).</summary>
    public int VisionFeatureLayer { get; init; } = -1;

    /// <summary>"full" keeps every patch; "default" drops the first (a CLS token, which SigLIP does not have).</summary>
    public string VisionFeatureSelectStrategy { get; init; } = "full";

    /// <summary>Allowed anyres resolutions, (height, width) each.</summary>
    public IReadOnlyList<(int Height, int Width)> ImageGridPinpoints { get; init; } = [];

    /// <summary>"anyres_max_N": at most N tiles' worth of features per image (larger grids are interpolated down).</summary>
    public string VisionAspectRatio { get; init; } = "anyres_max_9";

    public string ProjectorHiddenAct { get; init; } = "gelu";

    public bool MultimodalProjectorBias { get; init; } = true;

    public bool TieWordEmbeddings { get; init; }

    /// <summary>
    /// Video frames' spatial pooling: the g×g patch grid is pooled (bilinear) to ⌈g/stride⌉² tokens per frame.
    /// 2 (LLaVA-OneVision's apply_pooling, the default) or 1 (no pooling, g² tokens); key <c>spatial_pool_stride</c>.
    /// </summary>
    public int SpatialPoolStride { get; init; } = 2;

    public int MaxTiles => int.Parse(VisionAspectRatio.Replace("anyres_max_", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);

    public static LlavaOnevisionConfig Load(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path))
        {
            throw new VideoLongException($"'{path}' does not exist: a LLaVA-OneVision model folder needs config.json.");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static LlavaOnevisionConfig Parse(string json, string source = "config.json")
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        JsonElement Need(string key) => root.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null
            ? v
            : throw new VideoLongException($"{source}: required key '{key}' is missing (LlavaOnevisionConfig).");

        JsonElement text = Need("text_config");
        var textConfig = Qwen2Config.Parse(text.GetRawText(), source + ":text_config");
        IVisionTowerConfig vision = root.TryGetProperty("vision_config", out JsonElement tower) && ResNet18VisionConfig.ModelType(tower) == ResNet18VisionConfig.ModelTypeName
            ? ResNet18VisionConfig.FromJson(json, source)
            : SiglipVisionConfig.FromJson(json, source);
        var pinpoints = new List<(int, int)>();
        if (root.TryGetProperty("image_grid_pinpoints", out JsonElement grid) && grid.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement pair in grid.EnumerateArray())
            {
                int[] hw = pair.EnumerateArray().Select(x => x.GetInt32()).ToArray();
                if (hw.Length != 2 || hw[0] <= 0 || hw[1] <= 0)
                {
                    throw new VideoLongException($"{source}: image_grid_pinpoints holds an invalid entry {pair.GetRawText()} (expected [height, width]).");
                }

                pinpoints.Add((hw[0], hw[1]));
            }
        }

        int Int(string key, int fallback) => root.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : fallback;
        string Str(string key, string fallback) => root.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : fallback;
        bool Bool(string key, bool fallback) => root.TryGetProperty(key, out JsonElement v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

        int imageToken = root.TryGetProperty("image_token_index", out _) ? Int("image_token_index", -1) : Int("image_token_id", -1);
        int videoToken = root.TryGetProperty("video_token_index", out _) ? Int("video_token_index", -1) : Int("video_token_id", -1);
        var config = new LlavaOnevisionConfig
        {
            VisionConfig = vision,
            TextConfig = textConfig,
            ImageTokenIndex = imageToken >= 0 ? imageToken : throw new VideoLongException($"{source}: required key 'image_token_index' is missing."),
            VideoTokenIndex = videoToken >= 0 ? videoToken : throw new VideoLongException($"{source}: required key 'video_token_index' is missing."),
            VisionFeatureLayer = Int("vision_feature_layer", -1),
            VisionFeatureSelectStrategy = Str("vision_feature_select_strategy", "full"),
            ImageGridPinpoints = pinpoints,
            VisionAspectRatio = Str("vision_aspect_ratio", "anyres_max_9"),
            ProjectorHiddenAct = Str("projector_hidden_act", "gelu"),
            MultimodalProjectorBias = Bool("multimodal_projector_bias", true),
            TieWordEmbeddings = Bool("tie_word_embeddings", textConfig.TieWordEmbeddings),
            SpatialPoolStride = Int("spatial_pool_stride", 2),
        };
        config.Validate(source);
        return config;
    }

    public void Validate(string source)
    {
        if (VisionFeatureSelectStrategy is not ("full" or "default"))
        {
            throw new VideoLongException($"{source}: vision_feature_select_strategy '{VisionFeatureSelectStrategy}' is not supported (full or default).");
        }

        if (ProjectorHiddenAct != "gelu")
        {
            throw new VideoLongException($"{source}: projector_hidden_act '{ProjectorHiddenAct}' is not supported (gelu).");
        }

        if (!VisionAspectRatio.StartsWith("anyres_max_", StringComparison.Ordinal) || !int.TryParse(VisionAspectRatio[11..], System.Globalization.CultureInfo.InvariantCulture, out int n) || n <= 0)
        {
            throw new VideoLongException($"{source}: vision_aspect_ratio '{VisionAspectRatio}' is not supported (anyres_max_N).");
        }

        if (SpatialPoolStride < 1 || SpatialPoolStride > VisionConfig.GridSize)
        {
            throw new VideoLongException($"{source}: spatial_pool_stride {SpatialPoolStride} is not supported (1 = no pooling, 2 = 2×2 pooling; at most the grid size {VisionConfig.GridSize}).");
        }

        foreach (int token in new[] { ImageTokenIndex, VideoTokenIndex })
        {
            if (token >= TextConfig.VocabSize)
            {
                throw new VideoLongException($"{source}: placeholder token id {token} is outside the vocabulary ({TextConfig.VocabSize}).");
            }
        }
    }
}
