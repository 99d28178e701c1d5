using TorchSharp;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.Qwen2;

public sealed class When_qwen2_rms_norm_runs
{
    [Fact]
    public void It_matches_the_hand_formula()
    {
        // x = torch.tensor([[1., 2., 3., 4.]]); w = torch.tensor([1., .5, 2., 1.])
        // w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        //   -> tensor([[0.3651483, 0.3651483, 2.1908901, 1.4605934]])
        using var norm = new Qwen2RMSNorm(4, 1e-6);
        using (no_grad())
        {
            norm.state_dict()["weight"].copy_(tensor(new[] { 1f, 0.5f, 2f, 1f }));
        }

        using Tensor x = tensor(new[] { 1f, 2f, 3f, 4f }).view(1, 4);
        using Tensor y = norm.call(x);

        TensorAssert.Close(tensor(new[] { 0.3651483f, 0.3651483f, 2.1908901f, 1.4605934f }).view(1, 4), y, atol: 1e-6);
    }

    [Fact]
    public void In_bfloat16_it_normalises_in_float32_and_casts_back_before_the_weight()
    {
        using var norm = new Qwen2RMSNorm(8, 1e-6, dtype: ScalarType.BFloat16);
        using (no_grad())
        {
            norm.state_dict()["weight"].copy_(linspace(0.5, 2.0, 8));
        }

        using Tensor x32 = linspace(-300, 500, 16).view(2, 8);
        using Tensor x = x32.to(ScalarType.BFloat16);
        using Tensor y = norm.call(x);

        using Tensor h = x.to(ScalarType.Float32);
        using Tensor expected = norm.state_dict()["weight"] * (h * rsqrt(h.pow(2).mean([-1L], keepdim: true) + 1e-6)).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        TensorAssert.Close(expected, y, atol: 0);
    }
}

public sealed class When_rotary_embeddings_take_float_positions
{
    private static readonly Qwen2Config Config = TinyQwen2.Config();

    [Fact]
    public void Integer_valued_floats_give_exactly_the_integer_position_result()
    {
        var rotary = new Qwen2RotaryEmbedding(Config);
        using Tensor integers = arange(0, 40, ScalarType.Int64).view(2, 20);
        using Tensor floats = integers.to(ScalarType.Float32);

        (Tensor cosInt, Tensor sinInt) = rotary.CosSin(integers, ScalarType.Float32);
        (Tensor cosFloat, Tensor sinFloat) = rotary.CosSin(floats, ScalarType.Float32);

        Assert.Equal([2L, 20, Config.HeadDim], cosFloat.shape);
        Assert.True(cosInt.eq(cosFloat).all().item<bool>());
        Assert.True(sinInt.eq(sinFloat).all().item<bool>());
        foreach (Tensor t in new[] { cosInt, sinInt, cosFloat, sinFloat })
        {
            t.Dispose();
        }
    }

    [Fact]
    public void Fractional_positions_keep_their_fraction_beyond_256()
    {
        // inv_freq[i] = 1 / 10000 ** (2i / 16); emb = [pos * inv_freq, pos * inv_freq]
        var rotary = new Qwen2RotaryEmbedding(Config);
        using Tensor positions = tensor(new[] { 4.25f, 1000.0f, 1000.25f }).view(1, 3);

        (Tensor cos, Tensor sin) = rotary.CosSin(positions, ScalarType.Float32);

        double[] p = [4.25, 1000.0, 1000.25];
        var expectedCos = new float[3 * 16];
        var expectedSin = new float[3 * 16];
        for (int t = 0; t < 3; t++)
        {
            for (int d = 0; d < 16; d++)
            {
                double angle = p[t] / Math.Pow(10000, 2.0 * (d % 8) / 16);
                expectedCos[t * 16 + d] = (float)Math.Cos(angle);
                expectedSin[t * 16 + d] = (float)Math.Sin(angle);
            }
        }

        TensorAssert.Close(tensor(expectedCos).view(1, 3, 16), cos, atol: 2e-4);
        TensorAssert.Close(tensor(expectedSin).view(1, 3, 16), sin, atol: 2e-4);
        // cos(1000) = 0.5623791, cos(1000.25) = 0.3403228: the quarter step is not rounded away
        Assert.True(Math.Abs(cos[0, 1, 0].item<float>() - cos[0, 2, 0].item<float>()) > 0.2);
        cos.Dispose();
        sin.Dispose();
    }

    [Fact]
    public void Cos_and_sin_are_cast_to_the_activation_dtype_after_float32_math()
    {
        var rotary = new Qwen2RotaryEmbedding(Config);
        using Tensor positions = tensor(new[] { 1000.25f, 3000.5f }).view(1, 2);

        (Tensor cos32, Tensor sin32) = rotary.CosSin(positions, ScalarType.Float32);
        (Tensor cos16, Tensor sin16) = rotary.CosSin(positions, ScalarType.BFloat16);

        Assert.Equal(ScalarType.BFloat16, cos16.dtype);
        Assert.True(cos32.to(ScalarType.BFloat16).eq(cos16).all().item<bool>());
        Assert.True(sin32.to(ScalarType.BFloat16).eq(sin16).all().item<bool>());
        foreach (Tensor t in new[] { cos32, sin32, cos16, sin16 })
        {
            t.Dispose();
        }
    }

    [Fact]
    public void Rotate_half_moves_the_negated_second_half_first()
    {
        // torch.cat((-x[..., 2:], x[..., :2]), -1) for x = [1, 2, 3, 4] -> [-3, -4, 1, 2]
        using Tensor x = tensor(new[] { 1f, 2f, 3f, 4f });
        using Tensor rotated = Qwen2Attention.RotateHalf(x);

        Assert.Equal([-3f, -4f, 1f, 2f], rotated.data<float>().ToArray());
    }
}
