using VideoLong.Vision.Models;
using VideoLong.Vision.Models.Siglip;
using static TorchSharp.torch;

namespace VideoLong.Vision.Tests.Models.Siglip;

/// <summary>
/// The reference model of tests/fixtures/reference/siglip (tools/reference/make_fixtures.py, transformers 5.17, torch
/// 2.11, fp32 on the CPU): a random SiglipVisionModel with image 32, patch 8, width 48, 2 layers, 4 heads, run on 2 images
/// with output_hidden_states=True. Loaded once per test class.
/// </summary>
public sealed class SiglipReference : IAsyncLifetime
{
    public const double Fp32Tolerance = 1e-5;      // STYLE.md fp32 golden tolerance (observed max |diff| 3.6e-7)

    public SiglipVisionModel Model { get; private set; } = null!;

    public async Task InitializeAsync() => Model = await SiglipVisionModel.FromPretrainedAsync(Fixtures.Dir("siglip"));

    public Task DisposeAsync()
    {
        Model.Dispose();
        return Task.CompletedTask;
    }
}

[Trait("Category", "Parity")]
public sealed class When_siglip_encodes_the_reference_pixels(SiglipReference reference) : IClassFixture<SiglipReference>
{
    private readonly SiglipVisionModel _model = reference.Model;

    [Fact]
    public void Its_features_match_transformers()
    {
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", "last_hidden_state");
        using var _ = no_grad();
        using SiglipVisionOutput output = _model.forward(pixels);
        TensorAssert.Close(expected, output.LastHiddenState, atol: SiglipReference.Fp32Tolerance);
    }

    [Fact]
    public void Its_pooled_output_matches_transformers()
    {
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", "pooler_output");
        using var _ = no_grad();
        using SiglipVisionOutput output = _model.forward(pixels);
        TensorAssert.Close(expected, output.PoolerOutput!, atol: SiglipReference.Fp32Tolerance);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Its_hidden_states_match_transformers_layer_by_layer(int index)
    {
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", $"hidden_states_{index}");
        using var _ = no_grad();
        using SiglipVisionOutput output = _model.forward(pixels, outputHiddenStates: true);
        Assert.Equal(3, output.HiddenStates!.Count);
        TensorAssert.Close(expected, output.HiddenStates[index], atol: SiglipReference.Fp32Tolerance);
    }

    [Fact]
    public void Its_feature_layer_minus_2_is_transformers_hidden_states_minus_2()
    {
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", "hidden_states_1");
        using var _ = no_grad();
        using Tensor features = _model.ForwardFeatures(pixels, featureLayer: -2);
        TensorAssert.Close(expected, features, atol: SiglipReference.Fp32Tolerance);
    }

    [Fact]
    public void Each_reference_image_encodes_as_it_would_alone()
    {
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", "last_hidden_state");
        using var _ = no_grad();
        for (int i = 0; i < 2; i++)
        {
            using Tensor single = pixels.narrow(0, i, 1);
            using Tensor row = expected.narrow(0, i, 1);
            using SiglipVisionOutput alone = _model.forward(single);
            TensorAssert.Close(row, alone.LastHiddenState, atol: SiglipReference.Fp32Tolerance);
        }
    }

    [Fact]
    public async Task In_bfloat16_its_features_stay_within_bfloat16_rounding_of_transformers()
    {
        using SiglipVisionModel bf16 = await SiglipVisionModel.FromPretrainedAsync(Fixtures.Dir("siglip"), new ModelLoadOptions { DType = ScalarType.BFloat16 });
        using Tensor pixels = Fixtures.Reference("siglip", "pixel_values");
        using Tensor expected = Fixtures.Reference("siglip", "last_hidden_state");
        using Tensor expectedPooled = Fixtures.Reference("siglip", "pooler_output");
        using var _ = no_grad();
        using SiglipVisionOutput output = bf16.forward(pixels);
        Assert.Equal(ScalarType.BFloat16, output.LastHiddenState.dtype);
        Assert.True(TinySiglip.CosineSimilarity(expected, output.LastHiddenState) > 0.999);
        Assert.True(TinySiglip.CosineSimilarity(expectedPooled, output.PoolerOutput!) > 0.999);
    }
}
