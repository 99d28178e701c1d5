using VideoLong.Vision.Models;
using VideoLong.Vision.Models.LongVila;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Vision.Tests.Models.LongVila;

public sealed class When_the_LongVila_projector_downsamples_a_grid
{
    /// <summary>[1, s·s, C] with value 10·(s·r + c + 1) + k at row r, column c, channel k.</summary>
    private static Tensor Grid(int side, int channels)
    {
        float[] values = new float[side * side * channels];
        for (int p = 0; p < side * side; p++)
        {
            for (int k = 0; k < channels; k++)
            {
                values[(p * channels) + k] = (10 * (p + 1)) + k;
            }
        }

        return tensor(values).reshape(1, side * side, channels);
    }

    [Fact]
    public void A_3x3_grid_is_zero_padded_at_the_bottom_and_right_and_concatenated_per_2x2_block()
    {
        // Grid positions (value/10):    padded to 4×4:   blocks (row pair i, column pair j):
        //   1 2 3                        1 2 3 0          (0,0) = [1,2,4,5]   (0,1) = [3,0,6,0]
        //   4 5 6                        4 5 6 0          (1,0) = [7,8,0,0]   (1,1) = [9,0,0,0]
        //   7 8 9                        7 8 9 0
        //                                0 0 0 0
        // Channels per token: [(2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1)], each with its C = 2 channels in order.
        // Tokens in VILA's flat_square order, column pair major: (0,0), (1,0), (0,1), (1,1).
        // torch (VILA base_projector.DownSampleBlock): DownSampleBlock()(x) for x = the grid below gives the same.
        using Tensor grid = Grid(side: 3, channels: 2);
        using Tensor tokens = LongVilaProjector.Downsample(grid);

        Assert.Equal([1L, 4, 8], tokens.shape);
        float[][] expected =
        [
            [10, 11, 20, 21, 40, 41, 50, 51],     // (i 0, j 0)
            [70, 71, 80, 81, 0, 0, 0, 0],         // (i 1, j 0): bottom row padded
            [30, 31, 0, 0, 60, 61, 0, 0],         // (i 0, j 1): right column padded
            [90, 91, 0, 0, 0, 0, 0, 0],           // (i 1, j 1): corner
        ];
        for (int t = 0; t < 4; t++)
        {
            Assert.Equal(expected[t], tokens[0, t].data<float>().ToArray());
        }
    }

    [Fact]
    public void An_even_4x4_grid_is_not_padded()
    {
        using Tensor grid = Grid(side: 4, channels: 1);
        using Tensor tokens = LongVilaProjector.Downsample(grid);
        Assert.Equal([1L, 4, 4], tokens.shape);
        //  1  2  3  4
        //  5  6  7  8
        //  9 10 11 12
        // 13 14 15 16
        Assert.Equal([10f, 20, 50, 60], tokens[0, 0].data<float>().ToArray());      // (0,0)
        Assert.Equal([90f, 100, 130, 140], tokens[0, 1].data<float>().ToArray());   // (1,0)
        Assert.Equal([30f, 40, 70, 80], tokens[0, 2].data<float>().ToArray());      // (0,1)
        Assert.Equal([110f, 120, 150, 160], tokens[0, 3].data<float>().ToArray());  // (1,1)
    }

    [Fact]
    public void A_27x27_siglip_grid_becomes_14x14_196_tokens_with_the_last_one_mostly_padding()
    {
        using Tensor grid = Grid(side: 27, channels: 1);
        using Tensor tokens = LongVilaProjector.Downsample(grid);
        Assert.Equal([1L, 196, 4], tokens.shape);
        Assert.Equal([7290f, 0, 0, 0], tokens[0, 195].data<float>().ToArray());   // (i 13, j 13): only (26,26) is real
        Assert.Equal([270f, 0, 540, 0], tokens[0, 13 * 14].data<float>().ToArray());   // (i 0, j 13): right column padded
        Assert.Equal(196, LongVilaProjector.OutputTokens(729));
    }

    [Fact]
    public void Frames_are_downsampled_independently()
    {
        using Tensor one = Grid(side: 5, channels: 3);
        using Tensor two = cat([one, one * 2], 0);                                  // [2, 25, 3]
        using Tensor tokens = LongVilaProjector.Downsample(two);
        using Tensor first = LongVilaProjector.Downsample(one);
        Assert.Equal([2L, 9, 12], tokens.shape);
        TensorAssert.Close(first[0], tokens[0], atol: 0);
        TensorAssert.Close(first[0] * 2, tokens[1], atol: 0);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 1)]
    [InlineData(9, 4)]
    [InlineData(16, 4)]
    [InlineData(729, 196)]
    [InlineData(576, 144)]
    public void The_token_count_is_the_ceiling_half_grid_squared(int tokensIn, int tokensOut) =>
        Assert.Equal(tokensOut, LongVilaProjector.OutputTokens(tokensIn));

    [Fact]
    public void A_grid_that_is_not_square_is_refused()
    {
        using Tensor features = zeros(1, 10, 8);
        ModelInputException e = Assert.Throws<ModelInputException>(() => LongVilaProjector.Downsample(features));
        Assert.Contains("square grid", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => LongVilaProjector.OutputTokens(10));
    }
}

public sealed class When_the_LongVila_projector_projects_siglip_features : IDisposable
{
    private readonly LongVilaProjector _projector = new(mmHiddenSize: 8, hiddenSize: 16);

    [Fact]
    public void A_27x27_grid_of_width_C_becomes_196_tokens_of_width_H()
    {
        using Tensor features = randn(2, 729, 8);
        using var _ = no_grad();
        using Tensor tokens = _projector.forward(features);
        Assert.Equal([2L, 196, 16], tokens.shape);
    }

    [Fact]
    public void Its_weights_are_VILA_mlp_downsample_keys()
    {
        Dictionary<string, string> actual = _projector.state_dict().ToDictionary(p => p.Key, p => string.Join(",", p.Value.shape));
        var expected = new Dictionary<string, string>
        {
            ["layers.1.weight"] = "32",
            ["layers.1.bias"] = "32",
            ["layers.2.weight"] = "16,32",
            ["layers.2.bias"] = "16",
            ["layers.4.weight"] = "16,16",
            ["layers.4.bias"] = "16",
        };
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), actual.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void It_is_layernorm_linear_exact_gelu_linear_after_the_downsample()
    {
        Dictionary<string, Tensor> w = _projector.state_dict();
        using var _ = no_grad();
        w["layers.1.weight"].copy_(rand(32) + 0.5);                                 // not the identity LayerNorm
        w["layers.1.bias"].copy_(randn(32));

        using Tensor features = randn(3, 9, 8);
        using Tensor down = LongVilaProjector.Downsample(features);                 // [3, 4, 32]
        using Tensor normed = nn.functional.layer_norm(down, [32], w["layers.1.weight"], w["layers.1.bias"], eps: 1e-5);
        using Tensor hidden = nn.functional.linear(normed, w["layers.2.weight"], w["layers.2.bias"]);
        using Tensor activated = nn.functional.gelu(hidden);                         // exact (erf) GELU, as nn.GELU()
        using Tensor expected = nn.functional.linear(activated, w["layers.4.weight"], w["layers.4.bias"]);
        using Tensor actual = _projector.forward(features);
        TensorAssert.Close(expected, actual, atol: 1e-6);
    }

    [Fact]
    public void Features_of_another_width_are_refused_with_the_accepted_shape()
    {
        using Tensor features = zeros(1, 729, 9);
        ModelInputException e = Assert.Throws<ModelInputException>(() => _projector.forward(features));
        Assert.Contains("[N, s·s, 8]", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _projector.Dispose();
}

public sealed class When_a_LongVila_projector_is_loaded : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public async Task Its_widths_come_from_the_checkpoint_and_it_computes_what_was_saved()
    {
        using LongVilaProjector source = new(mmHiddenSize: 8, hiddenSize: 12);
        SafetensorsFile.Write(_dir.File("model.safetensors"), source.state_dict());
        await File.WriteAllTextAsync(_dir.File("config.json"), """{"architectures": ["MultimodalProjector"], "mm_projector_type": "mlp_downsample", "model_type": "v2l_projector"}""");

        using LongVilaProjector loaded = await LongVilaProjector.FromPretrainedAsync(_dir.Path);

        Assert.Equal(8, loaded.MmHiddenSize);
        Assert.Equal(12, loaded.HiddenSize);
        using Tensor features = randn(1, 729, 8);
        using var _ = no_grad();
        using Tensor expected = source.forward(features);
        using Tensor actual = loaded.forward(features);
        TensorAssert.Close(expected, actual, atol: 0);
    }

    [Fact]
    public async Task Another_projector_type_is_refused_naming_the_key()
    {
        await File.WriteAllTextAsync(_dir.File("config.json"), """{"mm_projector_type": "mlp2x_gelu"}""");
        ModelConfigException e = await Assert.ThrowsAsync<ModelConfigException>(() => LongVilaProjector.FromPretrainedAsync(_dir.Path));
        Assert.Equal("mm_projector_type", e.Key);
    }

    [Fact]
    public async Task A_mis_shaped_tensor_fails_naming_it()
    {
        using LongVilaProjector source = new(mmHiddenSize: 8, hiddenSize: 12);
        Dictionary<string, Tensor> state = source.state_dict();
        using Tensor wrong = zeros(12, 11);
        state["layers.4.weight"] = wrong;
        SafetensorsFile.Write(_dir.File("model.safetensors"), state);

        WeightLoadException e = await Assert.ThrowsAsync<WeightLoadException>(() => LongVilaProjector.FromPretrainedAsync(_dir.Path));
        Assert.Equal(["layers.4.weight: expected [12, 12], got [12, 11]"], e.Mismatched);
    }

    public void Dispose() => _dir.Dispose();
}
