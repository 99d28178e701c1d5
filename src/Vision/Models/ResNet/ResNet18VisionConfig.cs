using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace VideoLong.Vision.Models.ResNet;

/// <summary>
/// A ResNet18 trunk used as a vision tower (<c>vision_config.model_type</c> "resnet18_truncated", a VideoLong value):
/// conv1/bn1/relu/maxpool and the first <see cref="NumStages"/> stages of two BasicBlocks (torchvision layout), without
/// the average pool and classifier. The last stage's map is the feature grid: with 3 stages, stride 16 and 256
/// channels, so a 64² frame gives 4×4 = 16 features. Padding is that of the ML.NET / CNTK ResNet18 graph (conv1
/// pads 3 before and 2 after, the max-pool and strided 3×3 convolutions 1 before and 0 after).
/// </summary>
public sealed record ResNet18VisionConfig : IVisionTowerConfig
{
    public const string ModelTypeName = "resnet18_truncated";

    [JsonPropertyName("image_size")] public required int ImageSize { get; init; }

    /// <summary>Stages (layer1 … layerN) kept: 1 to 3 (ML.NET's graph has three blocks in layer4, torchvision's two: not offered).</summary>
    [JsonPropertyName("num_stages")] public int NumStages { get; init; } = 3;

    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;

    [JsonPropertyName("batch_norm_eps")] public double BatchNormEps { get; init; } = 1e-5;

    /// <summary>Channels of the last kept stage: 64, 128, 256.</summary>
    [JsonIgnore] public int HiddenSize => 64 << (NumStages - 1);

    /// <summary>Pixels per feature position: 4 (after the stem) doubled by each stage after the first.</summary>
    [JsonIgnore] public int Stride => 4 << (NumStages - 1);

    [JsonIgnore] public int GridSize => ImageSize / Stride;

    /// <summary>Spatial mean of ResNetPreprocess.onnx's MeanImage [1, 3, 224, 224] per channel, in RGB order.</summary>
    public static IReadOnlyList<float> MlNetMeanRgb { get; } = [123.15163f, 115.90288f, 103.06262f];

    /// <summary>
    /// The input the ImageNet weights expect, as image_mean / image_std: x − mean in 0…255 with the mean of ML.NET's
    /// ResNetPreprocess.onnx MeanImage per channel (R 123.15, G 115.90, B 103.06) and no scaling. ML.NET feeds BGR; the
    /// import flips conv1's input channels so the tower takes RGB like every other tower here.
    /// </summary>
    [JsonIgnore] public static PixelNormalization Normalization { get; } = new(
        [MlNetMeanRgb[0] / 255f, MlNetMeanRgb[1] / 255f, MlNetMeanRgb[2] / 255f], [1 / 255f, 1 / 255f, 1 / 255f]);

    /// <summary>Reads <c>vision_config</c> of a config.json (or a bare tower config) whose model_type is resnet18_truncated.</summary>
    public static ResNet18VisionConfig FromJson(string json, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument doc = ModelConfigReader.Parse(json, source);
        (JsonElement root, string prefix) = ModelConfigReader.VisionSection(doc.RootElement);

        if (ModelType(root) is { } type && type != ModelTypeName)
        {
            throw new ModelConfigException(source, prefix + "model_type", $"{source}: model_type is '{type}', not '{ModelTypeName}'.");
        }

        ResNet18VisionConfig config = ModelConfigReader.Read<ResNet18VisionConfig>(root, source, prefix);
        config.Validate(source, prefix);
        return config;
    }

    /// <summary>model_type of a tower config element, or null.</summary>
    public static string? ModelType(JsonElement tower) =>
        tower.ValueKind == JsonValueKind.Object && tower.TryGetProperty("model_type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    public void Validate(string source = "ResNet18VisionConfig", string keyPrefix = "")
    {
        if (NumStages is < 1 or > 3)
        {
            throw Bad("num_stages", $"num_stages ({NumStages}) must be 1 to 3 (layer1 … layer3 of ResNet18).");
        }

        if (NumChannels != 3)
        {
            throw Bad("num_channels", $"num_channels ({NumChannels}) must be 3 (RGB).");
        }

        if (ImageSize < Stride || ImageSize % Stride != 0)
        {
            throw Bad("image_size", $"image_size ({ImageSize}) must be a positive multiple of the stride {Stride} of {NumStages} stages (e.g. 64 for 4×4 features).");
        }

        if (!(BatchNormEps > 0) || double.IsInfinity(BatchNormEps))
        {
            throw Bad("batch_norm_eps", $"batch_norm_eps ({BatchNormEps}) must be a positive number.");
        }

        ModelConfigException Bad(string key, string message) => new(source, keyPrefix + key, $"{source}: {keyPrefix}{message}");
    }

    /// <summary>The <c>vision_config</c> object of a config.json.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = ModelTypeName,
        ["image_size"] = ImageSize,
        ["num_stages"] = NumStages,
        ["num_channels"] = NumChannels,
        ["batch_norm_eps"] = BatchNormEps,
        ["hidden_size"] = HiddenSize,
    };

    public string Describe() => $"ResNet18 truncated after layer{NumStages} ({ImageSize} px, stride {Stride}, {GridSize}×{GridSize}×{HiddenSize} features)";
}
