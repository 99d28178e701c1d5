using VideoLong.Vision.Models;
using VideoLong.Vision.Models.Siglip;

namespace VideoLong.Vision.Tests.Models.Siglip;

public sealed class When_a_siglip_config_is_read
{
    // As transformers 5.17 writes a SiglipVisionConfig (tests/fixtures/reference/siglip/config.json).
    private const string Tiny = """
        {
          "architectures": ["SiglipVisionModel"],
          "attention_dropout": 0.0,
          "dtype": "float32",
          "hidden_act": "gelu_pytorch_tanh",
          "hidden_size": 48,
          "image_size": 32,
          "intermediate_size": 96,
          "layer_norm_eps": 1e-06,
          "model_type": "siglip_vision_model",
          "num_attention_heads": 4,
          "num_channels": 3,
          "num_hidden_layers": 2,
          "patch_size": 8,
          "transformers_version": "5.17.0"
        }
        """;

    [Fact]
    public void Its_keys_become_the_architecture_and_unknown_keys_are_ignored()
    {
        SiglipVisionConfig config = SiglipVisionConfig.FromJson(Tiny);
        Assert.Equal(48, config.HiddenSize);
        Assert.Equal(96, config.IntermediateSize);
        Assert.Equal(2, config.NumHiddenLayers);
        Assert.Equal(4, config.NumAttentionHeads);
        Assert.Equal(12, config.HeadDim);
        Assert.Equal(16, config.NumPatches);
        Assert.Equal(1e-6, config.LayerNormEps);
        Assert.Equal("gelu_pytorch_tanh", config.HiddenAct);
        Assert.True(config.VisionUseHead);                 // absent → true, as transformers
    }

    [Fact]
    public void Optional_keys_take_the_transformers_defaults()
    {
        SiglipVisionConfig config = SiglipVisionConfig.FromJson("""
            {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
            """);
        Assert.Equal(3, config.NumChannels);
        Assert.Equal(1e-6, config.LayerNormEps);
        Assert.Equal("gelu_pytorch_tanh", config.HiddenAct);
        Assert.True(config.VisionUseHead);
    }

    [Fact]
    public void Vision_use_head_false_is_kept()
    {
        SiglipVisionConfig config = SiglipVisionConfig.FromJson(Tiny.Replace("\"patch_size\": 8", "\"patch_size\": 8, \"vision_use_head\": false", StringComparison.Ordinal));
        Assert.False(config.VisionUseHead);
    }

    [Fact]
    public void A_full_siglip_config_is_read_from_its_vision_config()
    {
        SiglipVisionConfig config = SiglipVisionConfig.FromJson("""
            {"model_type": "siglip", "text_config": {"hidden_size": 64}, "vision_config": {"model_type": "siglip_vision_model",
             "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16, "image_size": 384, "patch_size": 14}}
            """);
        Assert.Equal(SiglipVisionConfig.So400mPatch14_384, config);
    }

    [Fact]
    public void The_so400m_preset_has_27_by_27_patches_of_width_1152()
    {
        SiglipVisionConfig so400m = SiglipVisionConfig.So400mPatch14_384;
        Assert.Equal(27, so400m.GridSize);                 // 384 / 14 = 27.4: the "valid" convolution drops 6 pixels
        Assert.Equal(729, so400m.NumPatches);
        Assert.Equal(72, so400m.HeadDim);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("intermediate_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    [InlineData("image_size")]
    [InlineData("patch_size")]
    public void A_missing_required_key_is_named(string key)
    {
        string json = System.Text.RegularExpressions.Regex.Replace(Tiny, $"\"{key}\": [0-9]+,", "");
        ModelConfigException e = Assert.Throws<ModelConfigException>(() => SiglipVisionConfig.FromJson(json));
        Assert.Equal(key, e.Key);
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<VideoLongException>(e);
    }

    [Fact]
    public void A_value_of_the_wrong_type_is_named()
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() =>
            SiglipVisionConfig.FromJson(Tiny.Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"two\"", StringComparison.Ordinal)));
        Assert.Equal("num_hidden_layers", e.Key);
    }

    [Theory]
    [InlineData("\"num_attention_heads\": 4", "\"num_attention_heads\": 5", "hidden_size")]
    [InlineData("\"hidden_act\": \"gelu_pytorch_tanh\"", "\"hidden_act\": \"relu\"", "hidden_act")]
    [InlineData("\"patch_size\": 8", "\"patch_size\": 0", "patch_size")]
    [InlineData("\"patch_size\": 8", "\"patch_size\": 64", "patch_size")]
    [InlineData("\"layer_norm_eps\": 1e-06", "\"layer_norm_eps\": 0", "layer_norm_eps")]
    [InlineData("\"model_type\": \"siglip_vision_model\"", "\"model_type\": \"clip_vision_model\"", "model_type")]
    public void An_inconsistent_value_is_refused_naming_the_key(string from, string to, string key)
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() => SiglipVisionConfig.FromJson(Tiny.Replace(from, to, StringComparison.Ordinal)));
        Assert.Equal(key, e.Key);
        Assert.StartsWith("config.json: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_inside_vision_config_is_named_with_its_path()
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() =>
            SiglipVisionConfig.FromJson("""{"vision_config": {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "image_size": 32, "patch_size": 8}}"""));
        Assert.Equal("vision_config.num_attention_heads", e.Key);
    }

    [Fact]
    public async Task A_missing_file_says_where_it_looked()
    {
        ModelConfigException e = await Assert.ThrowsAsync<ModelConfigException>(() => SiglipVisionConfig.FromFileAsync("/nonexistent/siglip"));
        Assert.Contains("config.json", e.Message, StringComparison.Ordinal);
    }
}
