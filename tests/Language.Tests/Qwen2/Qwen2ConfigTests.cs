using VideoLong.Language.Models.Qwen2;

namespace VideoLong.Language.Tests.Qwen2;

public sealed class When_a_qwen2_config_is_read
{
    private const string Minimal = """
        { "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 96 }
        """;

    [Fact]
    public void Absent_keys_take_the_transformers_defaults()
    {
        Qwen2Config config = Qwen2Config.Parse(Minimal);

        Assert.Equal(4, config.NumKeyValueHeads);
        Assert.Equal(16, config.HeadDim);
        Assert.Equal(1, config.NumKeyValueGroups);
        Assert.Equal(1e-6, config.RmsNormEps);
        Assert.Equal(10000.0, config.RopeTheta);
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal("silu", config.HiddenAct);
        Assert.True(config.AttentionBias);
        Assert.Equal(32768, config.MaxPositionEmbeddings);
        Assert.Null(config.BosTokenId);
        Assert.Null(config.EosTokenId);
        Assert.Null(config.PadTokenId);
    }

    [Fact]
    public void A_qwen2_7b_style_file_is_read_and_unknown_keys_are_ignored()
    {
        Qwen2Config config = Qwen2Config.Parse("""
            {
              "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "torch_dtype": "bfloat16",
              "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
              "num_key_value_heads": 4, "vocab_size": 152064, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
              "max_position_embeddings": 131072, "sliding_window": 131072, "use_sliding_window": false, "max_window_layers": 28,
              "tie_word_embeddings": false, "bos_token_id": 151643, "eos_token_id": 151643, "rope_scaling": null,
              "some_future_key": { "nested": [1, 2] }
            }
            """);

        Assert.Equal(4, config.NumKeyValueHeads);
        Assert.Equal(128, config.HeadDim);
        Assert.Equal(7, config.NumKeyValueGroups);
        Assert.Equal(1_000_000.0, config.RopeTheta);
        Assert.Equal(151643, config.BosTokenId);
        Assert.Equal([151643], config.EosTokenIds);
    }

    [Fact]
    public void Rope_theta_is_read_from_the_transformers_5_rope_parameters()
    {
        Qwen2Config config = Qwen2Config.Parse("""
            { "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 96,
              "rope_parameters": { "rope_theta": 1000000.0, "rope_type": "default" } }
            """);

        Assert.Equal(1_000_000.0, config.RopeTheta);
    }

    [Fact]
    public void A_list_of_eos_ids_is_kept()
    {
        Qwen2Config config = Qwen2Config.Parse(Minimal.Replace("\"vocab_size\": 96", "\"vocab_size\": 96, \"eos_token_id\": [5, 7]", StringComparison.Ordinal));

        Assert.Equal([5, 7], config.EosTokenIds);
        Assert.Equal(5, config.EosTokenId);
    }

    [Theory]
    [InlineData("vocab_size")]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    public void A_missing_required_key_is_named(string key)
    {
        string json = Minimal.Replace($"\"{key}\": ", "\"renamed\": ", StringComparison.Ordinal);

        var e = Assert.Throws<VideoLongException>(() => Qwen2Config.Parse(json, "my/config.json"));

        Assert.Contains($"'{key}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("my/config.json", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"num_key_value_heads\": 3", "num_key_value_heads")]
    [InlineData("\"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"use_sliding_window\": true", "use_sliding_window")]
    [InlineData("\"rope_scaling\": { \"type\": \"yarn\", \"factor\": 4.0 }", "rope_scaling.type")]
    [InlineData("\"rms_norm_eps\": 0", "rms_norm_eps")]
    [InlineData("\"num_attention_heads\": \"four\"", "num_attention_heads")]
    public void An_unsupported_or_invalid_value_is_refused_naming_its_key(string entry, string key)
    {
        string json = Minimal.Replace("\"vocab_size\": 96", $"\"vocab_size\": 96, {entry}", StringComparison.Ordinal);
        if (key == "num_attention_heads")
        {
            json = json.Replace("\"num_attention_heads\": 4, ", "", StringComparison.Ordinal);
        }

        var e = Assert.Throws<VideoLongException>(() => Qwen2Config.Parse(json));

        Assert.Contains(key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_reported_with_its_path()
    {
        string dir = Path.Combine(Path.GetTempPath(), "videolong-no-such-" + Guid.NewGuid().ToString("N"));

        var e = Assert.Throws<VideoLongException>(() => Qwen2Config.Load(dir));

        Assert.Contains("config.json", e.Message, StringComparison.Ordinal);
    }
}
