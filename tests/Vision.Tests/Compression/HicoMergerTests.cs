using VideoLong.Vision.Compression;
using VideoLong.Vision.Models;
using static TorchSharp.torch;

namespace VideoLong.Vision.Tests.Compression;

/// <summary>Hand-made clips: each token's 16 channel groups all hold the same d-vector, so its metric is that vector, normalised.</summary>
internal static class HicoClips
{
    /// <summary>[1, P, 16·d]: token p = vectors[p] repeated 16 times (channel g·d + e = vectors[p][e]).</summary>
    public static Tensor Tokens(params float[][] vectors)
    {
        int d = vectors[0].Length;
        float[] values = new float[vectors.Length * 16 * d];
        for (int p = 0; p < vectors.Length; p++)
        {
            for (int g = 0; g < 16; g++)
            {
                Array.Copy(vectors[p], 0, values, (p * 16 * d) + (g * d), d);
            }
        }

        return tensor(values).reshape(1, vectors.Length, 16 * d);
    }

    /// <summary>The first d channels of token p of clip 0 (one group, equal to the d-vector the token was made of).</summary>
    public static float[] Head(Tensor tokens, int p, int d) => tokens[0, p].slice(0, 0, d, 1).data<float>().ToArray();

    public static float[] Angle(double degrees, double length = 1) =>
        [(float)(length * Math.Cos(degrees * Math.PI / 180)), (float)(length * Math.Sin(degrees * Math.PI / 180))];

    public static Tensor Random(long b, long p, long c, int seed)
    {
        using Generator generator = new((ulong)seed);
        return randn(b, p, c, generator: generator);
    }
}

[Trait("Category", "HiCo")]
public sealed class When_clips_are_merged_to_16_tokens_per_frame
{
    [Fact]
    public void Two_448px_clips_of_4x784_tokens_give_64_tokens_per_clip_and_16_per_frame()
    {
        using Tensor frames = HicoClips.Random(8, 784, 32, seed: 1);       // T = 8 frames of 28×28 patches
        using HicoMergeResult merged = HicoMerger.MergeVideo(frames);
        Assert.Equal([128L, 32], merged.Tokens.shape);                     // 16·T
        Assert.Equal([128L], merged.Sizes.shape);
        Assert.Equal([3136f, 3136f], merged.Sizes.reshape(2, 64).sum(1).data<float>().ToArray());
    }

    [Fact]
    public void A_224px_clip_of_4x196_tokens_gives_64_tokens()
    {
        using Tensor frames = HicoClips.Random(4, 196, 64, seed: 2);
        using HicoMergeResult merged = HicoMerger.MergeVideo(frames);
        Assert.Equal([64L, 64], merged.Tokens.shape);
        Assert.Equal(784f, merged.Sizes.sum().item<float>());
    }

    [Fact]
    public void An_image_tile_of_196_tokens_gives_64_tokens()
    {
        using Tensor tiles = HicoClips.Random(1, 196, 1024, seed: 3);
        using HicoMergeResult merged = HicoMerger.MergeImageTiles(tiles);
        Assert.Equal([1L, 64, 1024], merged.Tokens.shape);
        Assert.Equal(196f, merged.Sizes.sum().item<float>());
    }

    [Fact]
    public void Siglip_width_1152_is_averaged_in_16_groups_of_72()
    {
        using Tensor clips = HicoClips.Random(2, 100, 1152, seed: 4);
        using Tensor metric = HicoMerger.Metric(clips);
        Assert.Equal([2L, 100, 72], metric.shape);
        using HicoMergeResult merged = HicoMerger.Merge(clips, 40);
        Assert.Equal([2L, 40, 1152], merged.Tokens.shape);
    }

    [Fact]
    public void A_frame_count_that_is_not_a_multiple_of_the_clip_length_is_an_error_with_a_hint()
    {
        using Tensor frames = zeros(6, 196, 64);
        VideoLongException e = Assert.ThrowsAny<VideoLongException>(() => HicoMerger.MergeVideo(frames));
        Assert.Contains("T = 6", e.Message);
        Assert.Contains("multiple of the clip length (4)", e.Message);
    }

    [Fact]
    public void A_width_that_is_not_a_multiple_of_16_is_an_error()
    {
        using Tensor clips = zeros(1, 196, 40);
        VideoLongException e = Assert.ThrowsAny<VideoLongException>(() => HicoMerger.Merge(clips, 64));
        Assert.Contains("C = 40", e.Message);
    }

    [Fact]
    public void Too_few_tokens_for_the_target_is_an_error()
    {
        using Tensor frames = zeros(4, 15, 64);                               // 4×15 = 60 tokens < K = 64
        Assert.Throws<VideoLongException>(() => HicoMerger.MergeVideo(frames));
        using Tensor exact = zeros(4, 16, 64);                                // 4×16 = 64 = K: nothing to merge
        Assert.Equal(64, HicoMerger.MergeVideo(exact).Tokens.shape[0]);
    }
}

[Trait("Category", "HiCo")]
public sealed class When_a_bipartite_round_matches_tokens
{
    [Fact]
    public void The_metric_is_the_mean_of_16_contiguous_channel_groups_L2_normalised()
    {
        // C = 32: groups of 2 channels [0,1], [2,3], …, [30,31]; with x[c] = c the element-wise group mean is
        // [mean(0,2,…,30), mean(1,3,…,31)] = [15, 16] → /√(15² + 16²) = [0.68394, 0.72954]. Not the mean of
        // interleaved channels ([0,16], [1,17], …), which would give [7.5, 23.5].
        // torch: F.normalize(torch.arange(32.).view(1, 1, 16, 2).mean(2), dim=-1)
        using Tensor x = arange(32, dtype: float32).reshape(1, 1, 32).expand(1, 2, 32);
        using Tensor metric = HicoMerger.Metric(x);
        Assert.Equal([1L, 2, 2], metric.shape);
        float norm = MathF.Sqrt((15 * 15) + (16 * 16));
        Assert.Equal(15 / norm, metric[0, 0, 0].item<float>(), 6);
        Assert.Equal(16 / norm, metric[0, 0, 1].item<float>(), 6);
    }

    [Fact]
    public void A_is_the_even_positions_and_B_the_odd_and_ties_in_the_best_match_take_the_first_B()
    {
        // tokens t0 = (3,0), t1 = (0,2), t2 = (1,1), t3 = (4,0): A = {t0, t2}, B = {t1, t3}.
        // best(t0) = B1 (t3), score 1; best(t2) = B0 (t1) with cos 0.7071 (a tie with t3, the first B wins).
        // r = 1: t0 merges into t3 → (3.5, 0) size 2; output [t2] ++ [t1, t3'].
        // (With A = odd positions, t3 would merge into t0 and the output would be [t1, t0', t2].)
        using Tensor x = HicoClips.Tokens([3, 0], [0, 2], [1, 1], [4, 0]);
        using HicoMergeRound round = HicoMerger.MergeRound(x, r: 1);
        Assert.Equal([1L], round.Unmerged[0].data<long>().ToArray());
        Assert.Equal([0L], round.Sources[0].data<long>().ToArray());
        Assert.Equal([1L], round.Destinations[0].data<long>().ToArray());
        Assert.Equal([1L, 3, 32], round.Tokens.shape);
        Assert.Equal([1f, 1], HicoClips.Head(round.Tokens, 0, 2));
        Assert.Equal([0f, 2], HicoClips.Head(round.Tokens, 1, 2));
        Assert.Equal([3.5f, 0], HicoClips.Head(round.Tokens, 2, 2));
        Assert.Equal([1f, 1, 2], round.Sizes[0].data<float>().ToArray());
    }

    [Fact]
    public void Unmerged_A_come_first_by_descending_score_then_every_B_in_original_order()
    {
        // A (even) tokens at 40°, 10°, 30°, 20°; B (odd) tokens at 0°, 90°, 180°, 270°. Every A's best match is B0 with
        // score cos(angle): order a1 (10°), a3 (20°), a2 (30°), a0 (40°). r = 1 merges a1 into b0.
        float[][] a = [HicoClips.Angle(40), HicoClips.Angle(10), HicoClips.Angle(30), HicoClips.Angle(20)];
        float[][] b = [HicoClips.Angle(0, 2), HicoClips.Angle(90, 2), HicoClips.Angle(180, 2), HicoClips.Angle(270, 2)];
        using Tensor x = HicoClips.Tokens(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]);
        using HicoMergeRound round = HicoMerger.MergeRound(x, r: 1);

        Assert.Equal([3L, 2, 0], round.Unmerged[0].data<long>().ToArray());
        Assert.Equal([1L], round.Sources[0].data<long>().ToArray());
        Assert.Equal([0L], round.Destinations[0].data<long>().ToArray());
        float[][] expected = [a[3], a[2], a[0], [(a[1][0] + b[0][0]) / 2, (a[1][1] + b[0][1]) / 2], b[1], b[2], b[3]];
        for (int i = 0; i < expected.Length; i++)
        {
            float[] actual = HicoClips.Head(round.Tokens, i, 2);
            Assert.Equal(expected[i][0], actual[0], 6);
            Assert.Equal(expected[i][1], actual[1], 6);
        }

        Assert.Equal([1f, 1, 1, 2, 1, 1, 1], round.Sizes[0].data<float>().ToArray());
    }

    [Fact]
    public void Ties_in_the_score_sort_keep_A_order()
    {
        // All tokens identical: every score is 1, the stable sort keeps A order, so A0, A1 are merged (into B0, the
        // first maximum) and A2, A3 stay, in that order.
        using Tensor x = ones(1, 8, 16);
        using HicoMergeRound round = HicoMerger.MergeRound(x, r: 2);
        Assert.Equal([2L, 3], round.Unmerged[0].data<long>().ToArray());
        Assert.Equal([0L, 1], round.Sources[0].data<long>().ToArray());
        Assert.Equal([0L, 0], round.Destinations[0].data<long>().ToArray());
        Assert.Equal([1f, 1, 3, 1, 1, 1], round.Sizes[0].data<float>().ToArray());
    }
}

[Trait("Category", "HiCo")]
public sealed class When_tokens_are_averaged_by_size
{
    [Fact]
    public void Merging_two_identical_tokens_keeps_the_value_and_adds_the_sizes()
    {
        using Tensor random = HicoClips.Random(1, 4, 64, seed: 5);
        using Tensor x = random.clone();
        x[0, 1] = random[0, 0];                                               // t1 == t0: score 1, the best there is
        using HicoMergeRound round = HicoMerger.MergeRound(x, r: 1);
        Assert.Equal([0L], round.Sources[0].data<long>().ToArray());
        Assert.Equal([0L], round.Destinations[0].data<long>().ToArray());
        Assert.Equal(random[0, 0].data<float>().ToArray(), round.Tokens[0, 1].data<float>().ToArray());   // exact
        Assert.Equal(random[0, 2].data<float>().ToArray(), round.Tokens[0, 0].data<float>().ToArray());
        Assert.Equal([1f, 2, 1], round.Sizes[0].data<float>().ToArray());
    }

    [Fact]
    public void All_identical_tokens_give_K_copies_whose_sizes_sum_to_P()
    {
        // Values k/8: every s·x and their sums are exact in fp32, so each average is exactly the token again.
        using Tensor token = (arange(64, dtype: float32) - 31) / 8;
        using Tensor x = token.reshape(1, 1, 64).expand(2, 196, 64).contiguous();
        using HicoMergeResult merged = HicoMerger.Merge(x, 64);
        TensorAssert.Close(token.reshape(1, 1, 64).expand(2, 64, 64), merged.Tokens, atol: 0);
        Assert.Equal([196f, 196f], merged.Sizes.sum(1).data<float>().ToArray());
    }

    [Fact]
    public void The_size_weighted_sum_of_the_tokens_is_preserved()
    {
        using Tensor x = HicoClips.Random(2, 784, 64, seed: 6);
        using HicoMergeResult merged = HicoMerger.Merge(x, 64);
        using Tensor weighted = (merged.Tokens * merged.Sizes.unsqueeze(-1)).sum(1);    // Σ_k s_k·x_k  [2, 64]
        using Tensor total = x.sum(1);                                                   // Σ_i x_i      [2, 64]
        TensorAssert.Close(total, weighted, atol: 1e-4);
    }

    [Fact]
    public void The_sum_of_sizes_stays_P_after_every_round()
    {
        using Tensor start = HicoClips.Random(2, 3136, 32, seed: 7);
        Tensor x = start;
        Tensor? sizes = null;
        foreach (int r in HicoMergeSchedule.Compute(3136, 64))
        {
            HicoMergeRound round = HicoMerger.MergeRound(x, r, sizes);
            if (!ReferenceEquals(x, start))
            {
                x.Dispose();
                sizes!.Dispose();
            }

            round.Unmerged.Dispose();
            round.Sources.Dispose();
            round.Destinations.Dispose();
            (x, sizes) = (round.Tokens, round.Sizes);
            Assert.Equal([3136f, 3136f], sizes.sum(1).data<float>().ToArray());
            Assert.True(sizes.min().item<float>() >= 1);
        }

        Assert.Equal([2L, 64, 32], x.shape);
        x.Dispose();
        sizes!.Dispose();
    }

    [Fact]
    public void Matching_takes_no_gradient_but_the_average_does()
    {
        using Tensor x = HicoClips.Random(1, 196, 32, seed: 8).requires_grad_(true);
        using HicoMergeResult merged = HicoMerger.Merge(x, 64);
        using Tensor loss = (merged.Tokens * merged.Sizes.unsqueeze(-1)).sum();  // d/dx_i Σ s_k·x_k = 1 for every i
        loss.backward();
        TensorAssert.Close(ones_like(x), x.grad!, atol: 1e-5);
        Assert.False(merged.Sizes.requires_grad);
    }

    [Fact]
    public void Half_precision_input_is_matched_in_fp32_and_returned_in_its_own_dtype()
    {
        using Tensor x = HicoClips.Random(1, 196, 64, seed: 9).to(bfloat16);
        using HicoMergeResult half = HicoMerger.Merge(x, 64);
        using Tensor widened = x.to(float32);
        using HicoMergeResult full = HicoMerger.Merge(widened, 64);
        Assert.Equal(bfloat16, half.Tokens.dtype);
        Assert.Equal(float32, half.Sizes.dtype);
        TensorAssert.Close(full.Tokens.to(bfloat16), half.Tokens, atol: 0);
        TensorAssert.Close(full.Sizes, half.Sizes, atol: 0);
    }
}

/// <summary>
/// Golden test against tests/fixtures/reference/hico (tools/reference/hico_merge_reference.py, plain torch, fp32 CPU):
/// "small" = 2 clips of 4×49 tokens × 64 channels (196 → 64), "large" = 1 clip of 4×196 × 1024 (784 → 64, input
/// stored as int8 / 32).
/// </summary>
[Trait("Category", "HiCo")]
[Trait("Category", "Parity")]
public sealed class When_clips_are_merged_like_the_torch_reference
{
    private const double Fp32Tolerance = 1e-5;

    private static Tensor Input(string name) => name == "small"
        ? Fixtures.Reference("hico", "small.input")
        : Fixtures.Reference("hico", "large.input_q8", float32) / 32;

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public void Its_tokens_and_sizes_match(string name)
    {
        using Tensor x = Input(name);
        using HicoMergeResult merged = HicoMerger.Merge(x, 64);
        using Tensor tokens = Fixtures.Reference("hico", $"{name}.tokens");
        using Tensor sizes = Fixtures.Reference("hico", $"{name}.sizes");
        TensorAssert.Close(tokens, merged.Tokens, atol: Fp32Tolerance, rtol: Fp32Tolerance);
        TensorAssert.Close(sizes, merged.Sizes, atol: Fp32Tolerance);
    }

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public void Every_round_makes_the_same_matching(string name)
    {
        Tensor x = Input(name);
        Tensor? sizes = null;
        int[] schedule = HicoMergeSchedule.Compute((int)x.shape[1], 64);
        for (int i = 0; i < schedule.Length; i++)
        {
            using HicoMergeRound round = HicoMerger.MergeRound(x, schedule[i], sizes);
            foreach ((string part, Tensor actual) in new[]
                     { ("unmerged", round.Unmerged), ("sources", round.Sources), ("destinations", round.Destinations) })
            {
                using Tensor expected = Fixtures.Reference("hico", $"{name}.round{i}.{part}");
                Assert.Equal(expected.shape, actual.shape);
                using Tensor differ = expected.ne(actual).sum();
                Assert.True(differ.item<long>() == 0, $"{name} round {i}: {differ.item<long>()} {part} differ from the reference");
            }

            using Tensor expectedSizes = Fixtures.Reference("hico", $"{name}.round{i}.sizes");
            TensorAssert.Close(expectedSizes, round.Sizes, atol: Fp32Tolerance);
            x.Dispose();
            sizes?.Dispose();
            (x, sizes) = (round.Tokens.clone(), round.Sizes.clone());
        }

        x.Dispose();
        sizes?.Dispose();
    }
}

[Trait("Category", "HiCo")]
public sealed class When_a_clip_already_holds_K_tokens
{
    [Fact]
    public void It_is_returned_unchanged_with_unit_sizes()
    {
        using TorchSharp.torch.Tensor x = TorchSharp.torch.randn(2, 64, 32);
        VideoLong.Vision.Compression.HicoMergeResult r = VideoLong.Vision.Compression.HicoMerger.Merge(x, 64);
        Assert.Equal(0f, (r.Tokens - x).abs().max().item<float>());
        Assert.Equal(128.0, r.Sizes.sum().item<float>());
        Assert.ThrowsAny<VideoLongException>(() => VideoLong.Vision.Compression.HicoMerger.Merge(x, 65));   // P < K stays an error
    }
}
