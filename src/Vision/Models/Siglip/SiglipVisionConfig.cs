using System.Text.Json;
using System.Text.Json.Serialization;

namespace VideoLong.Vision.Models.Siglip;

/// <summary>
/// The architecture of a SigLIP vision tower, read from the checkpoint's <c>config.json</c> (transformers'
/// <c>SiglipVisionConfig</c>; a full <c>SiglipConfig</c> with a nested <c>vision_config</c> is read too). Sizes that
/// transformers would silently default to siglip-base-patch16-224 are <c>required</c> here; the other defaults are
/// transformers' own.
/// </summary>
public sealed record SiglipVisionConfig : IVisionTowerConfig
{
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public required int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public required int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    [JsonPropertyName("image_size")] public required int ImageSize { get; init; }
    [JsonPropertyName("patch_size")] public required int PatchSize { get; init; }
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;                      // HF default
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-6;             // HF default
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu_pytorch_tanh";     // HF default

    /// <summary>Whether the multihead-attention-pooling head exists (transformers: true unless the config says otherwise).</summary>
    [JsonPropertyName("vision_use_head")] public bool VisionUseHead { get; init; } = true;

    /// <summary>Patches per side: ⌊image_size / patch_size⌋ (the patch convolution is "valid", so 384/14 → 27).</summary>
    [JsonIgnore] public int GridSize => ImageSize / PatchSize;

    /// <summary>Tokens per image: GridSize² (so400m/14 at 384 px: 729).</summary>
    [JsonIgnore] public int NumPatches => GridSize * GridSize;

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The activations transformers' ACT2FN maps <c>hidden_act</c> to that this port implements.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } = ["gelu_pytorch_tanh", "gelu_new", "gelu"];

    /// <summary>google/siglip-so400m-patch14-384, LongVILA's tower: 27 layers, width 1152, 27×27 = 729 patches.</summary>
    public static SiglipVisionConfig So400mPatch14_384 { get; } = new()
    {
        HiddenSize = 1152,
        IntermediateSize = 4304,
        NumHiddenLayers = 27,
        NumAttentionHeads = 16,
        ImageSize = 384,
        PatchSize = 14,
    };

    /// <summary>Reads and validates <c>config.json</c> (a file, or the folder that holds it).</summary>
    public static async Task<SiglipVisionConfig> FromFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file))
        {
            throw new ModelConfigException(file, "", $"'{file}' does not exist; a SigLIP checkpoint folder holds config.json next to model.safetensors.");
        }

        string json = await File.ReadAllTextAsync(file, cancellationToken);
        return FromJson(json, file);
    }

    /// <summary>
    /// Parses and validates a config. <paramref name="source"/> names the file in messages. A <c>SiglipConfig</c>
    /// (vision and text) is accepted: its <c>vision_config</c> is read.
    /// </summary>
    public static SiglipVisionConfig FromJson(string json, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument doc = ModelConfigReader.Parse(json, source);
        (JsonElement root, string prefix) = ModelConfigReader.VisionSection(doc.RootElement);

        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("model_type", out JsonElement modelType)
            && modelType.GetString() is { } type && type is not ("siglip_vision_model" or "siglip"))
        {
            throw new ModelConfigException(source, prefix + "model_type",
                $"{source}: model_type is '{type}', not a SigLIP vision tower (siglip_vision_model or siglip).");
        }

        SiglipVisionConfig config = ModelConfigReader.Read<SiglipVisionConfig>(root, source, prefix);
        config.Validate(source, prefix);
        return config;
    }

    /// <summary>Checks the values against each other; a failure names the key.</summary>
    public void Validate(string source = "SiglipVisionConfig", string keyPrefix = "")
    {
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumChannels, "num_channels");
        Positive(PatchSize, "patch_size");
        Positive(ImageSize, "image_size");
        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw Bad("hidden_size", $"hidden_size ({HiddenSize}) must be divisible by num_attention_heads ({NumAttentionHeads}).");
        }

        if (PatchSize > ImageSize)
        {
            throw Bad("patch_size", $"patch_size ({PatchSize}) must not exceed image_size ({ImageSize}).");
        }

        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
        {
            throw Bad("layer_norm_eps", $"layer_norm_eps ({LayerNormEps}) must be a positive number.");
        }

        if (HiddenAct is null || !SupportedActivations.Contains(HiddenAct))
        {
            throw Bad("hidden_act", $"hidden_act '{HiddenAct}' is not supported; supported: {string.Join(", ", SupportedActivations)}.");
        }

        void Positive(int value, string key)
        {
            if (value <= 0)
            {
                throw Bad(key, $"{key} ({value}) must be positive.");
            }
        }

        ModelConfigException Bad(string key, string message) => new(source, keyPrefix + key, $"{source}: {keyPrefix}{message}");
    }

    /// <summary>For messages: "SiglipVisionModel (27 layers, width 1152, 384 px / patch 14)".</summary>
    public string Describe() =>
        $"SiglipVisionModel ({NumHiddenLayers} layers, width {HiddenSize}, {ImageSize} px / patch {PatchSize}{(VisionUseHead ? "" : ", no head")})";
}
