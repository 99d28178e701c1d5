using System.Text.Json.Nodes;
using TorchSharp;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.LlavaOnevision;

public sealed class When_llava_onevision_has_a_resnet18_tower
{
    /// <summary>The reference fixture's config with vision_config replaced by a 64² ResNet18 up to layer3.</summary>
    private static LlavaOnevisionConfig Config()
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Dir("llava_onevision"), "config.json")))!;
        config["vision_config"] = new ResNet18VisionConfig { ImageSize = 64 }.ToJson();
        return LlavaOnevisionConfig.Parse(config.ToJsonString());
    }

    [Fact]
    public void The_config_selects_the_tower_and_video_frames_keep_their_16_features()
    {
        LlavaOnevisionConfig config = Config();
        Assert.IsType<ResNet18VisionConfig>(config.VisionConfig);
        Assert.False(config.PoolsVideoFeatures);
        torch.manual_seed(3);
        using var model = new LlavaOnevisionForConditionalGeneration(config);
        Assert.IsType<ResNet18VisionModel>(model.VisionTower);
        Assert.Equal(3 * 16 + 1, model.VideoTokenCount(3));
        Assert.Equal(4 * 4 + 1, model.VideoTokenCount(4, new VlmOptions { TokensPerFrame = 4 }));
        using Tensor frames = randn([2, 3, 3, 64, 64]);                                   // [B, F, 3, S, S]
        using Tensor tokens = model.EncodeVideos(frames);
        Assert.Equal([2L * ((3 * 16) + 1), config.TextConfig.HiddenSize], tokens.shape);
        using Tensor merged = model.EncodeVideos(randn([1, 4, 3, 64, 64]), new VlmOptions { TokensPerFrame = 4 });   // HiCo merges the 16
        Assert.Equal([(4L * 4) + 1, config.TextConfig.HiddenSize], merged.shape);
        Assert.Contains("vision_tower.layer3.1.bn2.running_var", model.state_dict().Keys);
    }

    [Fact]
    public void A_siglip_checkpoint_does_not_load_into_it()
    {
        using var model = new LlavaOnevisionForConditionalGeneration(Config());
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(Fixtures.Dir("llava_onevision"));
        WeightLoadException e = Assert.Throws<WeightLoadException>(() =>
            WeightLoader.LoadStrict(model, checkpoint, "resnet tower", LlavaOnevisionForConditionalGeneration.WeightMapFor(model.Config)));
        Assert.Contains("vision_tower.conv1.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected", e.Message, StringComparison.Ordinal);                    // the SigLIP tensors
    }

    [Fact]
    public void An_unknown_or_invalid_tower_is_refused_with_the_key()
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Dir("llava_onevision"), "config.json")))!;
        config["vision_config"] = new JsonObject { ["model_type"] = "resnet18_truncated", ["image_size"] = 60 };
        Vision.Models.ModelConfigException e = Assert.Throws<Vision.Models.ModelConfigException>(() => LlavaOnevisionConfig.Parse(config.ToJsonString()));
        Assert.Equal("vision_config.image_size", e.Key);
    }
}
