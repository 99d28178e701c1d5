using TorchSharp;
using VideoLong.Vision.Models;
using VideoLong.Vision.Models.Siglip;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Vision.Tests.Models.Siglip;

/// <summary>A tiny random SigLIP: 32 px / patch 8 → 4×4 = 16 patches, width 48, 3 layers, 4 heads.</summary>
internal static class TinySiglip
{
    public static SiglipVisionConfig Config { get; } = new()
    {
        HiddenSize = 48,
        IntermediateSize = 96,
        NumHiddenLayers = 3,
        NumAttentionHeads = 4,
        ImageSize = 32,
        PatchSize = 8,
    };

    public static SiglipVisionModel Create(SiglipVisionConfig? config = null)
    {
        var model = new SiglipVisionModel(config ?? Config);
        model.eval();
        return model;
    }

    public static Tensor Pixels(int batch, long seed)
    {
        using var generator = new Generator((ulong)seed);
        return randn([batch, 3, 32, 32], generator: generator);
    }

    public static double CosineSimilarity(Tensor a, Tensor b)
    {
        using Tensor x = a.flatten().to(float64);
        using Tensor y = b.flatten().to(float64);
        using Tensor cos = nn.functional.cosine_similarity(x, y, dim: 0);
        return cos.item<double>();
    }
}

public sealed class When_siglip_encodes_a_batch : IDisposable
{
    private readonly SiglipVisionModel _model = TinySiglip.Create();
    private readonly Tensor _pixels = TinySiglip.Pixels(3, seed: 11);

    [Fact]
    public void Its_outputs_have_the_documented_shapes()
    {
        using var _ = no_grad();
        using SiglipVisionOutput output = _model.forward(_pixels, outputHiddenStates: true);
        Assert.Equal([3L, 16, 48], output.LastHiddenState.shape);
        Assert.Equal([3L, 48], output.PoolerOutput!.shape);
        Assert.Equal(4, output.HiddenStates!.Count);          // embeddings + 3 layers
        Assert.All(output.HiddenStates, h => Assert.Equal([3L, 16, 48], h.shape));
    }

    [Fact]
    public void Hidden_states_are_left_out_unless_asked_for()
    {
        using var _ = no_grad();
        using SiglipVisionOutput output = _model.forward(_pixels);
        Assert.Null(output.HiddenStates);
    }

    [Fact]
    public void Each_image_encodes_as_it_would_alone()
    {
        using var _ = no_grad();
        using SiglipVisionOutput batch = _model.forward(_pixels);
        for (int i = 0; i < 3; i++)
        {
            using Tensor single = _pixels.narrow(0, i, 1);
            using SiglipVisionOutput alone = _model.forward(single);
            using Tensor batchRow = batch.LastHiddenState.narrow(0, i, 1);
            using Tensor batchPooled = batch.PoolerOutput!.narrow(0, i, 1);
            Assert.True(TinySiglip.CosineSimilarity(batchRow, alone.LastHiddenState) > 0.9999);
            Assert.True(TinySiglip.CosineSimilarity(batchPooled, alone.PoolerOutput!) > 0.9999);
        }
    }

    [Fact]
    public void Feature_layer_minus_2_equals_the_hidden_state_of_layer_L_minus_1()
    {
        using var _ = no_grad();
        using SiglipVisionOutput all = _model.forward(_pixels, outputHiddenStates: true);
        using Tensor features = _model.ForwardFeatures(_pixels, featureLayer: -2);
        TensorAssert.Close(all.HiddenStates![_model.Config.NumHiddenLayers - 1], features, atol: 0);
    }

    [Fact]
    public void Feature_layer_0_is_the_embeddings_and_minus_1_the_last_layer_before_post_layernorm()
    {
        using var _ = no_grad();
        using SiglipVisionOutput all = _model.forward(_pixels, outputHiddenStates: true);
        using Tensor embeddings = _model.ForwardFeatures(_pixels, featureLayer: 0);
        using Tensor minusOne = _model.ForwardFeatures(_pixels, featureLayer: -1);
        using Tensor three = _model.ForwardFeatures(_pixels, featureLayer: 3);
        TensorAssert.Close(all.HiddenStates![0], embeddings, atol: 0);
        TensorAssert.Close(all.HiddenStates[3], minusOne, atol: 0);
        TensorAssert.Close(all.HiddenStates[3], three, atol: 0);
        Assert.False(all.HiddenStates[3].allclose(all.LastHiddenState));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(-5)]
    public void A_feature_layer_outside_the_stack_is_refused(int featureLayer)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardFeatures(_pixels, featureLayer));
        Assert.Contains("[-4, 3]", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new long[] { 3, 32, 32 })]
    [InlineData(new long[] { 1, 1, 32, 32 })]
    [InlineData(new long[] { 1, 3, 48, 48 })]
    public void Pixels_of_another_shape_are_refused_with_the_accepted_one(long[] shape)
    {
        using Tensor pixels = zeros(shape);
        ModelInputException e = Assert.Throws<ModelInputException>(() => _model.forward(pixels));
        Assert.Contains("[B, 3, 32, 32]", e.Message, StringComparison.Ordinal);
        Assert.Equal(shape, e.Shape);
    }

    [Fact]
    public void Integer_pixels_are_refused()
    {
        using Tensor pixels = zeros([1, 3, 32, 32], dtype: ScalarType.Byte);
        Assert.Throws<ModelInputException>(() => _model.forward(pixels));
    }

    [Fact]
    public void Float64_pixels_are_cast_to_the_weights_dtype()
    {
        using var _ = no_grad();
        using Tensor doubles = _pixels.to(float64);
        using SiglipVisionOutput a = _model.forward(doubles);
        using SiglipVisionOutput b = _model.forward(_pixels);
        Assert.Equal(ScalarType.Float32, a.LastHiddenState.dtype);
        TensorAssert.Close(b.LastHiddenState, a.LastHiddenState, atol: 1e-6);
    }

    public void Dispose()
    {
        _pixels.Dispose();
        _model.Dispose();
    }
}

public sealed class When_siglip_is_built_without_a_head
{
    [Fact]
    public void It_has_no_head_weights_and_no_pooler_output()
    {
        using SiglipVisionModel model = TinySiglip.Create(TinySiglip.Config with { VisionUseHead = false });
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("vision_model.head.", StringComparison.Ordinal));
        using var _ = no_grad();
        using Tensor pixels = TinySiglip.Pixels(1, seed: 5);
        using SiglipVisionOutput output = model.forward(pixels);
        Assert.Null(output.PoolerOutput);
        Assert.Equal([1L, 16, 48], output.LastHiddenState.shape);
    }
}

public sealed class When_siglip_lists_its_weights
{
    [Fact]
    public void Its_names_and_shapes_are_the_transformers_checkpoint_keys()
    {
        using SiglipVisionModel model = TinySiglip.Create(TinySiglip.Config with { NumHiddenLayers = 1 });
        Dictionary<string, string> actual = model.state_dict().ToDictionary(p => p.Key, p => string.Join(",", p.Value.shape));
        var expected = new Dictionary<string, string>
        {
            ["vision_model.embeddings.patch_embedding.weight"] = "48,3,8,8",
            ["vision_model.embeddings.patch_embedding.bias"] = "48",
            ["vision_model.embeddings.position_embedding.weight"] = "16,48",
            ["vision_model.encoder.layers.0.layer_norm1.weight"] = "48",
            ["vision_model.encoder.layers.0.layer_norm1.bias"] = "48",
            ["vision_model.encoder.layers.0.self_attn.k_proj.weight"] = "48,48",
            ["vision_model.encoder.layers.0.self_attn.k_proj.bias"] = "48",
            ["vision_model.encoder.layers.0.self_attn.v_proj.weight"] = "48,48",
            ["vision_model.encoder.layers.0.self_attn.v_proj.bias"] = "48",
            ["vision_model.encoder.layers.0.self_attn.q_proj.weight"] = "48,48",
            ["vision_model.encoder.layers.0.self_attn.q_proj.bias"] = "48",
            ["vision_model.encoder.layers.0.self_attn.out_proj.weight"] = "48,48",
            ["vision_model.encoder.layers.0.self_attn.out_proj.bias"] = "48",
            ["vision_model.encoder.layers.0.layer_norm2.weight"] = "48",
            ["vision_model.encoder.layers.0.layer_norm2.bias"] = "48",
            ["vision_model.encoder.layers.0.mlp.fc1.weight"] = "96,48",
            ["vision_model.encoder.layers.0.mlp.fc1.bias"] = "96",
            ["vision_model.encoder.layers.0.mlp.fc2.weight"] = "48,96",
            ["vision_model.encoder.layers.0.mlp.fc2.bias"] = "48",
            ["vision_model.post_layernorm.weight"] = "48",
            ["vision_model.post_layernorm.bias"] = "48",
            ["vision_model.head.probe"] = "1,1,48",
            ["vision_model.head.attention.in_proj_weight"] = "144,48",
            ["vision_model.head.attention.in_proj_bias"] = "144",
            ["vision_model.head.attention.out_proj.weight"] = "48,48",
            ["vision_model.head.attention.out_proj.bias"] = "48",
            ["vision_model.head.layernorm.weight"] = "48",
            ["vision_model.head.layernorm.bias"] = "48",
            ["vision_model.head.mlp.fc1.weight"] = "96,48",
            ["vision_model.head.mlp.fc1.bias"] = "96",
            ["vision_model.head.mlp.fc2.weight"] = "48,96",
            ["vision_model.head.mlp.fc2.bias"] = "48",
        };
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void The_so400m_tower_has_448_tensors_of_the_published_shapes_without_allocating_them()
    {
        using SiglipVisionModel model = new(SiglipVisionConfig.So400mPatch14_384, device: torch.META);
        Dictionary<string, Tensor> state = model.state_dict();
        Assert.Equal(3 + (27 * 16) + 2 + 11, state.Count);
        Assert.Equal([1152L, 3, 14, 14], state["vision_model.embeddings.patch_embedding.weight"].shape);
        Assert.Equal([729L, 1152], state["vision_model.embeddings.position_embedding.weight"].shape);
        Assert.Equal([4304L, 1152], state["vision_model.encoder.layers.26.mlp.fc1.weight"].shape);
        Assert.Equal([3456L, 1152], state["vision_model.head.attention.in_proj_weight"].shape);
        Assert.Equal(428_225_600L, state.Values.Sum(t => t.numel()));
        Assert.All(state.Values, t => Assert.Equal(DeviceType.META, t.device_type));
    }
}

public sealed class When_a_siglip_checkpoint_is_loaded : IDisposable
{
    private readonly TempDir _dir = new();

    private static readonly string ConfigJson = """
        {"model_type": "siglip_vision_model", "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3,
         "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
        """;

    [Fact]
    public async Task The_loaded_model_computes_what_the_saved_one_did()
    {
        using SiglipVisionModel source = TinySiglip.Create();
        SafetensorsFile.Write(_dir.File("model.safetensors"), source.state_dict());
        await File.WriteAllTextAsync(_dir.File("config.json"), ConfigJson);
        var reports = new List<LoadProgress>();

        using SiglipVisionModel loaded = await SiglipVisionModel.FromPretrainedAsync(_dir.Path, progress: new SyncProgress(reports));

        using Tensor pixels = TinySiglip.Pixels(2, seed: 7);
        using var _ = no_grad();
        using SiglipVisionOutput expected = source.forward(pixels);
        using SiglipVisionOutput actual = loaded.forward(pixels);
        TensorAssert.Close(expected.LastHiddenState, actual.LastHiddenState, atol: 0);
        TensorAssert.Close(expected.PoolerOutput!, actual.PoolerOutput!, atol: 1e-6);   // SDPA may take another CPU kernel without grad
        Assert.Equal(ScalarType.Float32, actual.LastHiddenState.dtype);
        Assert.All(loaded.parameters(), p => Assert.False(p.requires_grad));
        Assert.Equal(source.state_dict().Count, reports.Count);
        Assert.Equal(reports.Count, reports[^1].Loaded);
    }

    [Fact]
    public async Task A_mis_shaped_tensor_fails_naming_it()
    {
        using SiglipVisionModel source = TinySiglip.Create();
        Dictionary<string, Tensor> state = source.state_dict();
        using Tensor wrong = zeros(95, 48);
        state["vision_model.encoder.layers.1.mlp.fc1.weight"] = wrong;
        SafetensorsFile.Write(_dir.File("model.safetensors"), state);
        await File.WriteAllTextAsync(_dir.File("config.json"), ConfigJson);

        WeightLoadException e = await Assert.ThrowsAsync<WeightLoadException>(() => SiglipVisionModel.FromPretrainedAsync(_dir.Path));

        Assert.Equal(["vision_model.encoder.layers.1.mlp.fc1.weight: expected [96, 48], got [95, 48]"], e.Mismatched);
        Assert.Empty(e.Missing);
        Assert.Empty(e.Unexpected);
        Assert.Contains("shape mismatch for vision_model.encoder.layers.1.mlp.fc1.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("SiglipVisionModel (3 layers, width 48, 32 px / patch 8)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_layer_and_a_stray_tensor_are_both_listed()
    {
        using SiglipVisionModel source = TinySiglip.Create();
        Dictionary<string, Tensor> state = source.state_dict()
            .Where(p => !p.Key.StartsWith("vision_model.encoder.layers.2.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value);
        using Tensor stray = zeros(3);
        state["vision_model.extra.weight"] = stray;
        SafetensorsFile.Write(_dir.File("model.safetensors"), state);
        await File.WriteAllTextAsync(_dir.File("config.json"), ConfigJson);

        WeightLoadException e = await Assert.ThrowsAsync<WeightLoadException>(() => SiglipVisionModel.FromPretrainedAsync(_dir.Path));

        Assert.Equal(16, e.Missing.Count);
        Assert.Contains("vision_model.encoder.layers.2.mlp.fc2.bias", e.Missing);
        Assert.Equal(["vision_model.extra.weight"], e.Unexpected);
    }

    [Fact]
    public async Task A_full_siglip_checkpoint_loads_without_its_text_tower()
    {
        using SiglipVisionModel source = TinySiglip.Create();
        Dictionary<string, Tensor> state = source.state_dict();
        using Tensor text = zeros(10, 4);
        using Tensor scale = zeros(1);
        state["text_model.embeddings.token_embedding.weight"] = text;
        state["logit_scale"] = scale;
        SafetensorsFile.Write(_dir.File("model.safetensors"), state);
        await File.WriteAllTextAsync(_dir.File("config.json"), "{\"model_type\": \"siglip\", \"vision_config\": " + ConfigJson + "}");

        using SiglipVisionModel loaded = await SiglipVisionModel.FromPretrainedAsync(_dir.Path);
        Assert.Equal(3, loaded.Config.NumHiddenLayers);
    }

    [Fact]
    public async Task A_cuda_device_that_is_absent_is_refused_before_loading()
    {
        await File.WriteAllTextAsync(_dir.File("config.json"), ConfigJson);
        if (cuda.is_available())
        {
            return;
        }

        ModelConfigException e = await Assert.ThrowsAsync<ModelConfigException>(() =>
            SiglipVisionModel.FromPretrainedAsync(_dir.Path, new ModelLoadOptions { Device = "cuda" }));
        Assert.Equal("Device", e.Key);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Progress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(List<LoadProgress> reports) : IProgress<LoadProgress>
    {
        public void Report(LoadProgress value)
        {
            lock (reports)
            {
                reports.Add(value);
            }
        }
    }
}
