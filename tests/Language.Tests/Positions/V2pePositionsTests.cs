using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Positions;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.Positions;

/// <summary>ALGORITHMS.md §3.2 and checklist §8.5.</summary>
[Trait("Category", "V2PE")]
public sealed class When_v2pe_positions_are_built
{
    // The worked example: 4 text tokens, <img>, one tile of 256 visual tokens, </img>, 2 text tokens (264 tokens).
    private static bool[] WorkedExample(int tiles = 1) =>
        [.. Enumerable.Repeat(false, 5), .. Enumerable.Repeat(true, 256 * tiles), .. Enumerable.Repeat(false, 3)];

    private static readonly Lazy<Qwen2ForCausalLM> Fixture = new(() => Qwen2ForCausalLM.FromPretrainedAsync(Fixtures.Dir("qwen2")).GetAwaiter().GetResult());

    [Fact]
    public void Stride_256_gives_exactly_the_standard_integer_positions()
    {
        bool[] visual = [false, false, true, true, true, false, true, true, false, false, true, false];

        Assert.Equal(Enumerable.Range(0, 264).Select(i => (double)i), V2pePositions.Compute(WorkedExample(), stride: 256));
        Assert.Equal(Enumerable.Range(0, visual.Length).Select(i => (double)i), V2pePositions.Compute(visual, stride: 256));
        Assert.Equal(263, V2pePositions.Compute(WorkedExample(), stride: 256).Max());
    }

    [Fact]
    public void Stride_256_with_left_padding_gives_the_transformers_positions()
    {
        using Tensor visual = tensor(new[] { false, false, false, true, true, false, false, false, true, true, true, false }, [2, 6]);
        using Tensor mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1 }, [2, 6]);

        using Tensor positions = V2pePositions.Build(visual, stride: 256, attentionMask: mask);

        // transformers: cumsum(mask) − 1, padded positions filled with 1.
        using Tensor expected = (mask.cumsum(-1) - 1).masked_fill(mask.eq(0), 1).to(ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, positions.dtype);
        Assert.True(expected.eq(positions).all().item<bool>(), string.Join(", ", positions.data<float>().ToArray()));
    }

    [Fact]
    public void Stride_64_puts_the_visual_tokens_at_quarter_steps_from_4_25_to_68()
    {
        double[] p = V2pePositions.Compute(WorkedExample(), stride: 64);

        Assert.Equal([0, 1, 2, 3, 4], p.Take(5));
        Assert.Equal(Enumerable.Range(1, 256).Select(k => 4 + k * 0.25), p.Skip(5).Take(256));
        Assert.Equal(4.25, p[5]);
        Assert.Equal(68.0, p[260]);
        Assert.Equal(69, p[261]);   // </img>
        Assert.Equal(71, p[^1]);
    }

    [Fact]
    public void Stride_1_puts_the_visual_tokens_between_4_00390625_and_5()
    {
        double[] p = V2pePositions.Compute(WorkedExample(), stride: 1);

        Assert.Equal(4.00390625, p[5]);
        Assert.Equal(5.0, p[260]);
        Assert.Equal(6, p[261]);
        Assert.Equal(8, p[^1]);
        using Tensor asTensor = V2pePositions.Build(tensor(WorkedExample(), [1, 264]), stride: 1);
        Assert.Equal(4.00390625f, asTensor[0, 5].item<float>());   // exact in float32
    }

    [Fact]
    public void All_tiles_of_one_image_share_one_delta_and_the_next_text_sits_at_the_ceiling_plus_one()
    {
        double[] p = V2pePositions.Compute(WorkedExample(tiles: 3), stride: 64);   // 2 tiles + thumbnail = 768 tokens

        double[] visual = p.Skip(5).Take(768).ToArray();
        Assert.All(visual.Zip(visual.Skip(1)), pair => Assert.Equal(0.25, pair.Second - pair.First));
        Assert.Equal(4 + 768 * 0.25, visual[^1]);
        Assert.Equal(Math.Ceiling(visual[^1]) + 1, p[5 + 768]);

        // A run that ends between integers: 5 tokens at δ = 1/4 end at 5.25, so the text resumes at ⌈5.25⌉ + 1 = 7.
        double[] odd = V2pePositions.Compute([false, false, false, false, false, true, true, true, true, true, false], stride: 64);
        Assert.Equal([0, 1, 2, 3, 4, 4.25, 4.5, 4.75, 5.0, 5.25, 7], odd);
    }

    [Fact]
    public void Adjacent_images_with_different_ids_are_separate_runs()
    {
        int[] ids = [-1, 0, 0, 1, 1, -1];

        double[] p = V2pePositions.Compute(ids, [64, 128]);

        Assert.Equal(2, V2pePositions.CountImages(ids));
        Assert.Equal([0, 0.25, 0.5, 1.5, 2.0, 3], p);
    }

    [Fact]
    public void The_training_sampler_draws_a_stride_per_image_and_inference_uses_one_fixed_stride()
    {
        int[] first = V2pePositions.SampleStrides(200, new Random(1234));
        int[] again = V2pePositions.SampleStrides(200, new Random(1234));

        Assert.Equal(first, again);   // seeded → reproducible
        Assert.All(first, s => Assert.Contains(s, V2pePositions.TrainingStrides));
        Assert.Equal(V2pePositions.TrainingStrides.Order(), first.Distinct().Order());   // every stride shows up over 200 draws
        Assert.Equal([1, 2, 4, 8, 16, 32, 64, 128, 256], V2pePositions.TrainingStrides);

        // Three images of 4 tokens, separated by one text token: each image steps by its own δ.
        int[] ids = [-1, 0, 0, 0, 0, -1, 1, 1, 1, 1, -1, 2, 2, 2, 2, -1];
        int[] strides = V2pePositions.SampleStrides(3, new Random(7));
        double[] sampled = V2pePositions.Compute(ids, strides);
        for (int image = 0; image < 3; image++)
        {
            int start = 1 + image * 5;
            double step = sampled[start + 1] - sampled[start];
            Assert.Equal(strides[image] / 256.0, step);
        }

        double[] fixedStride = V2pePositions.Compute(ids, V2pePositions.InferenceStride);
        double[] steps = [.. Enumerable.Range(0, 3).Select(image => fixedStride[2 + image * 5] - fixedStride[1 + image * 5])];
        Assert.All(steps, s => Assert.Equal(0.25, s));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(257)]
    [InlineData(-64)]
    public void A_stride_outside_1_to_256_is_rejected_with_what_is_accepted(int stride)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => V2pePositions.Compute(WorkedExample(), stride));
        Assert.Contains("[1, 256]", e.Message, StringComparison.Ordinal);
        Assert.Contains("powers of two", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stride_that_is_not_a_power_of_two_is_accepted()
    {
        double[] p = V2pePositions.Compute([false, true, true, false], stride: 3);
        Assert.Equal([0, 3 / 256.0, 6 / 256.0, 2], p);
    }

    [Fact]
    public void Positions_above_256_keep_their_fraction_through_the_fp32_rotary_embedding()
    {
        // bf16 ids would round 1000.25 to 1000 (8 significant bits) — the reason positions stay float32 end to end.
        using Tensor asBf16 = tensor(1000.25f).to(ScalarType.BFloat16).to(ScalarType.Float32);
        Assert.Equal(1000f, asBf16.item<float>());

        Qwen2ForCausalLM model = Fixture.Value;
        var rotary = new Qwen2RotaryEmbedding(model.Config);
        using Tensor positions = tensor(new[] { 1000f, 1000.25f }, [1, 2]);
        (Tensor cos, Tensor sin) = rotary.CosSin(positions, ScalarType.Float32);   // [1, 2, D]
        using (cos)
        using (sin)
        {
            Assert.Equal(Math.Cos(1000.25), cos[0, 1, 0].item<float>(), 1e-4);   // first frequency is 1
            Assert.True(Math.Abs(cos[0, 1, 0].item<float>() - cos[0, 0, 0].item<float>()) > 0.1);
        }

        using Tensor ids = tensor(new long[] { 5, 17, 33, 2, 90, 41 }, [1, 6]);
        // RoPE only sees relative distances, so shifting every position by 0.25 changes nothing; shifting the last three
        // (as a visual run would) must change the logits — it would not if 1000.25 collapsed to 1000.
        using Tensor p = (arange(0, 6, ScalarType.Float32) + 1000).view(1, 6);
        using Tensor quarter = tensor(new[] { 0f, 0, 0, 0.25f, 0.25f, 0.25f }, [1, 6]);
        using Tensor shifted = p + quarter;
        using Tensor everything = p + 0.25;
        using Tensor a = Logits(model, ids, p);
        using Tensor b = Logits(model, ids, shifted);
        using Tensor c = Logits(model, ids, everything);
        Assert.Equal(1003.25f, shifted[0, 3].item<float>());
        Assert.True((a - b).abs().max().item<float>() > 1e-3, "positions p and p + 0.25 must give different logits");
        TensorAssert.Close(a, c, atol: 2e-3);   // a uniform shift is (up to fp32 rounding of the angles) invisible
    }

    [Fact]
    public void Fractional_positions_survive_the_kv_cache_during_generation()
    {
        Qwen2ForCausalLM model = Fixture.Value;
        bool[] visual = [false, false, true, true, true, true, true, false, false];
        long[] prompt = [5, 17, 33, 2, 90, 41, 7, 64, 12];
        using Tensor ids = tensor(prompt, [1, prompt.Length]);
        using Tensor positions = V2pePositions.Build(tensor(visual, [1, visual.Length]), stride: 64);

        int[] generated = new TokenGenerator(model).Generate(new GenerationPrompt { InputIds = ids, PositionIds = positions },
            new GenerationOptions { MaxNewTokens = 3 })[0];

        var sequence = prompt.ToList();
        var p = positions[0].data<float>().ToList();
        for (int step = 0; step < 3; step++)
        {
            using Tensor all = tensor(sequence.ToArray(), [1, sequence.Count]);
            using Tensor allPositions = tensor(p.ToArray(), [1, p.Count]);
            using Tensor logits = Logits(model, all, allPositions);
            sequence.Add(logits[0, -1].argmax().item<long>());
            p.Add(p[^1] + 1);
        }

        Assert.Equal(sequence.Skip(prompt.Length).Select(t => (int)t), generated);
    }

    private static Tensor Logits(Qwen2ForCausalLM model, Tensor ids, Tensor positions)
    {
        using Qwen2CausalLMOutput output = model.call(new Qwen2CausalLMInput { InputIds = ids, PositionIds = positions });
        return output.Logits.clone();
    }
}
