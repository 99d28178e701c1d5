using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Tests.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.VideoDrop;

/// <summary>HiCo video-level compression: ALGORITHMS.md §1.4 and checklist §8.2.</summary>
[Trait("Category", "HiCo")]
public sealed class When_visual_tokens_are_dropped_inside_the_decoder
{
    // Prompt layout of the tiny cases: 5 text tokens, 16 visual tokens, 4 text tokens.
    private const int P0 = 5;
    private const int Nv = 16;
    private const int Length = 25;

    private static readonly Lazy<Qwen2ForCausalLM> Fixture = new(() => Qwen2ForCausalLM.FromPretrainedAsync(Fixtures.Dir("qwen2")).GetAwaiter().GetResult());

    // Four layers so that two stages fit (drops after layers 1 and 2).
    private static readonly Lazy<Qwen2ForCausalLM> Deep = new(() => TinyQwen2.Create(TinyQwen2.Config() with { NumHiddenLayers = 4 }, seed: 3));

    private static VideoTokenDropping TwoStages(VideoTokenDropMode mode = VideoTokenDropMode.Uniform0Attention,
        VideoDropPositions positions = VideoDropPositions.Repacked) => new()
    {
        Mode = mode,
        Layers = [1, 2],
        Ratios = [1, 0.75, 0.25],
        VisualStart = P0,
        VisualCount = Nv,
        Positions = positions,
    };

    private static Qwen2CausalLMOutput Run(Qwen2ForCausalLM model, Tensor ids, VideoTokenDropping? drop, Qwen2KvCache? cache = null,
        Tensor? positions = null, int? hiddenIndex = null) =>
        model.call(new Qwen2CausalLMInput { InputIds = ids, VideoTokenDropping = drop, Cache = cache, PositionIds = positions, HiddenStatesIndex = hiddenIndex });

    [Fact]
    public void Uniform_keeps_floor_linspace_0_8191_6144_of_8192_visual_tokens()
    {
        VideoTokenDropping card = VideoTokenDropping.ModelCard(visualStart: 14, visualCount: 8192);

        long[] kept = VideoTokenDropping.UniformIndices(card.TokensAt(0), card.TokensAt(1));

        Assert.Equal([8192, 6144, 2048], Enumerable.Range(0, 3).Select(card.TokensAt));
        Assert.Equal(VideoTokenDropMode.Uniform, card.ModeAt(1));
        Assert.Equal(VideoTokenDropMode.Attention, card.ModeAt(2));
        Assert.Equal(6144, kept.Length);
        using Tensor linspace = torch.linspace(0, 8191, 6144, ScalarType.Float64).floor().to(ScalarType.Int64);
        Assert.Equal(linspace.data<long>().ToArray(), kept);
        Assert.Equal(0, kept[0]);
        Assert.Equal(8191, kept[^1]);
        Assert.All(kept.Zip(kept.Skip(1)), p => Assert.True(p.Second > p.First));
        Assert.Equal([0, 2, 4, 6], VideoTokenDropping.UniformIndices(7, 4));
        Assert.Equal([0], VideoTokenDropping.UniformIndices(7, 1));
    }

    [Fact]
    public void The_sequence_shrinks_by_cur_minus_keep_at_each_stage_and_deeper_caches_hold_only_kept_tokens()
    {
        Qwen2ForCausalLM model = Deep.Value;
        using Tensor ids = TinyQwen2.Ids(1, Length, seed: 21);
        using Qwen2KvCache cache = model.CreateKvCache(1, 32);

        using Qwen2CausalLMOutput output = Run(model, ids, TwoStages(), cache);
        using Qwen2CausalLMOutput afterFirst = Run(model, ids, TwoStages(), hiddenIndex: 1);

        Assert.Equal([1L, Length - (16 - 12) - (12 - 4), 96], output.Logits.shape);
        Assert.Equal(Length - 4, afterFirst.HiddenStates!.shape[1]);
        Assert.Equal([Length, Length - 4, Length - 12, Length - 12], Enumerable.Range(0, 4).Select(cache.LayerLength));
        Assert.Equal(Length, cache.Length);
        Assert.Equal(2, output.KeptVisualTokens.Count);
        Assert.Equal(VideoTokenDropping.UniformIndices(16, 12), output.KeptVisualTokens[0].data<long>().ToArray());
        long[] second = output.KeptVisualTokens[1].data<long>().ToArray();
        Assert.Equal(4, second.Length);
        Assert.Subset(output.KeptVisualTokens[0].data<long>().ToHashSet(), second.ToHashSet());
        Assert.All(second.Zip(second.Skip(1)), p => Assert.True(p.Second > p.First));
    }

    [Fact]
    public void Text_before_and_after_the_span_is_never_dropped()
    {
        Qwen2ForCausalLM model = Deep.Value;
        using Tensor ids = TinyQwen2.Ids(1, Length, seed: 22);
        using Tensor positions = (arange(0, Length, ScalarType.Float32) * 1.5).view(1, Length);   // distinct, recognisable

        using Qwen2CausalLMOutput plain = Run(model, ids, null);
        using Qwen2CausalLMOutput dropped = Run(model, ids, TwoStages());

        // Text before the span never sees a visual token and keeps positions 0 … p0 − 1: its logits do not change.
        using Tensor before = plain.Logits.narrow(1, 0, P0);
        using Tensor beforeDropped = dropped.Logits.narrow(1, 0, P0);
        TensorAssert.Close(before, beforeDropped, atol: 1e-5);

        // The rebuild itself: tokens[:p0] ++ visual[kept] ++ tokens[p0 + cur:], every text row carried over unchanged.
        using Tensor hidden = arange(0, Length, ScalarType.Float32).view(1, Length, 1).expand(1, Length, 3).contiguous();
        using Tensor kept = tensor(new long[] { 1, 4, 9, 15 }, [1, 4]);
        (Tensor h, Tensor p, Tensor? pad) = VideoTokenDropping.Shorten(hidden, positions, null, kept, P0, Nv, VideoDropPositions.Original);
        using (h)
        using (p)
        {
            Assert.Null(pad);
            long[] rows = h[0, .., 0].to(ScalarType.Int64).data<long>().ToArray();
            Assert.Equal([0, 1, 2, 3, 4, 6, 9, 14, 20, 21, 22, 23, 24], rows);
            Assert.Equal(rows.Select(r => r * 1.5f), p[0].data<float>().ToArray());   // Original: the given positions
        }
    }

    [Fact]
    public void Positions_after_a_drop_are_repacked_contiguous()
    {
        using Tensor hidden = zeros(2, Length, 3);
        using Tensor positions = (arange(0, Length, ScalarType.Float32) * 0.25).view(1, Length).expand(2, Length);   // V2PE-like
        using Tensor kept = tensor(new long[] { 0, 5, 10, 15, 1, 2, 3, 4 }, [2, 4]);
        using Tensor padding = ones([2, Length], ScalarType.Bool);
        padding[1, 0] = false;
        padding[1, 1] = false;

        (Tensor h, Tensor p, Tensor? pad) = VideoTokenDropping.Shorten(hidden, positions, null, kept, P0, Nv, VideoDropPositions.Repacked);
        (Tensor h2, Tensor p2, Tensor? pad2) = VideoTokenDropping.Shorten(hidden, positions, padding, kept, P0, Nv, VideoDropPositions.Repacked);
        using (h)
        using (p)
        using (h2)
        using (p2)
        using (pad2)
        {
            Assert.Equal([2L, 13, 3], h.shape);
            using Tensor contiguousIds = arange(0, 13, ScalarType.Float32).view(1, 13).expand(2, 13);
            Assert.True(contiguousIds.eq(p).all().item<bool>());
            // With left padding: cumsum(mask) − 1, padded positions 1, as transformers.
            Assert.Equal([1f, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p2[1].data<float>().ToArray());
            Assert.False(pad2![1, 1].item<bool>());
        }
    }

    [Theory]
    [InlineData(VideoDropPositions.Repacked)]
    [InlineData(VideoDropPositions.Original)]
    public void Decoding_after_a_drop_shifts_positions_by_the_number_dropped_and_matches_a_full_forward(VideoDropPositions mode)
    {
        // Uniform choices do not depend on the query, so a full forward over prompt + new tokens with the same drop is the
        // exact reference for every decoding step: there the new token's position in the deeper layers is the full position
        // minus the tokens dropped before it (Repacked), or the full position itself (Original).
        Qwen2ForCausalLM model = Deep.Value;
        VideoTokenDropping drop = TwoStages(VideoTokenDropMode.Uniform, mode);
        using Tensor ids = TinyQwen2.Ids(1, Length, seed: 23);
        using Tensor positions = mode == VideoDropPositions.Original
            ? V2pe(Length)
            : arange(0, Length, ScalarType.Float32).view(1, Length);

        using Qwen2KvCache cache = model.CreateKvCache(1, 40);
        using Qwen2CausalLMOutput prefill = Run(model, ids, drop, cache, positions);
        var sequence = ids[0].data<long>().ToList();
        var p = positions[0].data<float>().ToList();
        long next = prefill.Logits[0, -1].argmax().item<long>();
        for (int step = 0; step < 4; step++)
        {
            sequence.Add(next);
            p.Add(p[^1] + 1);
            using Tensor token = tensor(new[] { next }, [1, 1]);
            using Tensor tokenPosition = tensor(new[] { p[^1] }, [1, 1]);
            using Qwen2CausalLMOutput decoded = Run(model, token, null, cache, tokenPosition);

            using Tensor all = tensor(sequence.ToArray(), [1, sequence.Count]);
            using Tensor allPositions = tensor(p.ToArray(), [1, p.Count]);
            using Qwen2CausalLMOutput full = Run(model, all, drop, null, allPositions);
            using Tensor expected = full.Logits.narrow(1, full.Logits.shape[1] - 1, 1);
            TensorAssert.Close(expected, decoded.Logits, atol: 1e-4);
            next = decoded.Logits[0, -1].argmax().item<long>();
        }

        Assert.Equal([Length + 4, Length + 4 - 4, Length + 4 - 12, Length + 4 - 12], Enumerable.Range(0, 4).Select(cache.LayerLength));
    }

    [Fact]
    public void Generation_through_the_token_generator_uses_the_same_drop_and_shift()
    {
        Qwen2ForCausalLM model = Deep.Value;
        VideoTokenDropping drop = TwoStages(VideoTokenDropMode.Uniform);
        long[] prompt = TinyQwen2.Ids(1, Length, seed: 24)[0].data<long>().ToArray();

        int[] generated = new TokenGenerator(model.WithVideoTokenDropping(drop)).Generate([prompt.Select(t => (int)t).ToArray()],
            new GenerationOptions { MaxNewTokens = 5 })[0];

        var sequence = prompt.ToList();
        for (int step = 0; step < 5; step++)
        {
            using Tensor all = tensor(sequence.ToArray(), [1, sequence.Count]);
            using Qwen2CausalLMOutput full = Run(model, all, drop);
            sequence.Add(full.Logits[0, -1].argmax().item<long>());
        }

        Assert.Equal(sequence.Skip(prompt.Length).Select(t => (int)t), generated);
    }

    [Fact]
    public void Switched_off_or_with_all_ratios_1_the_model_is_bit_identical()
    {
        Qwen2ForCausalLM model = Deep.Value;
        using Tensor ids = TinyQwen2.Ids(2, Length, seed: 25);
        VideoTokenDropping ones = TwoStages() with { Ratios = [1, 1, 1] };

        using Tensor plain = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });
        using Qwen2CausalLMOutput off = Run(model, ids, null);
        using Qwen2KvCache cache = model.CreateKvCache(2, Length);
        using Qwen2CausalLMOutput allOnes = Run(model, ids, ones, cache);

        Assert.True(plain.eq(off.Logits).all().item<bool>());
        Assert.True(plain.eq(allOnes.Logits).all().item<bool>());
        Assert.Empty(allOnes.KeptVisualTokens);
        Assert.Null(cache.VideoTokenDropping);
        Assert.All(Enumerable.Range(0, 4), layer => Assert.Equal(Length, cache.LayerLength(layer)));

        int[][] prompts = [[5, 17, 33, 2, 90, 41, 7, 64], [12, 3, 77]];
        var options = new GenerationOptions { MaxNewTokens = 6 };
        IReadOnlyList<int[]> plainTokens = new TokenGenerator(model).Generate(prompts, options);
        Assert.Equal(plainTokens, new TokenGenerator(model.WithVideoTokenDropping(null)).Generate(prompts, options));
    }

    [Fact]
    public void Attention_scores_equal_a_hand_written_reference()
    {
        // Fixture: 2 layers, 4 query heads over 2 KV heads (GQA), head dim 16. Drop after layer 1 → layer index 1 scores.
        Qwen2ForCausalLM model = Fixture.Value;
        const int length = 12;
        const int start = 3;
        const int count = 6;
        using Tensor ids = tensor(new long[] { 5, 17, 33, 2, 90, 41, 7, 64, 12, 300, 250, 9 }, [1, length]);
        using Tensor positions = V2pe(length);
        using Qwen2CausalLMOutput layerOne = Run(model, ids, null, positions: positions, hiddenIndex: 1);
        Tensor hidden = layerOne.HiddenStates!;                                     // [1, L, H]

        using Tensor actual = model.VisualTokenScores(1, hidden, positions, null, start, count);   // [1, count]
        using Tensor expected = ReferenceScores(model, hidden, positions, start, count);

        TensorAssert.Close(expected, actual, atol: 1e-6, rtol: 1e-5);
        Assert.Equal(ScalarType.Float32, actual.dtype);

        // The drop keeps the top-2 of those scores, ascending.
        var drop = new VideoTokenDropping
        {
            Mode = VideoTokenDropMode.Attention, Layers = [1], Ratios = [1, 2.0 / count], VisualStart = start, VisualCount = count,
        };
        using Qwen2CausalLMOutput dropped = Run(model, ids, drop, positions: positions);
        long[] top = expected[0].data<double>().Select((s, i) => (s, i)).OrderByDescending(x => x.s).Take(2).Select(x => (long)x.i).Order().ToArray();
        Assert.Equal(top, dropped.KeptVisualTokens[0].data<long>().ToArray());
        Assert.Equal(length - (count - 2), dropped.Logits.shape[1]);
    }

    [Fact]
    public void A_batch_drops_per_row_as_each_row_alone()
    {
        Qwen2ForCausalLM model = Deep.Value;
        using Tensor ids = TinyQwen2.Ids(2, Length, seed: 26);
        VideoTokenDropping drop = TwoStages(VideoTokenDropMode.Attention);

        using Qwen2CausalLMOutput batch = Run(model, ids, drop);
        for (int r = 0; r < 2; r++)
        {
            using Tensor row = ids.narrow(0, r, 1);
            using Qwen2CausalLMOutput single = Run(model, row, drop);
            using Tensor batchRow = batch.Logits.narrow(0, r, 1);
            TensorAssert.Close(single.Logits, batchRow, atol: 1e-5);
            Assert.Equal(single.KeptVisualTokens[1].data<long>().ToArray(), batch.KeptVisualTokens[1][r].data<long>().ToArray());
        }
    }

    [Fact]
    public void A_left_padded_batch_generates_per_row_what_each_row_generates_alone()
    {
        // Row 1 has 2 fewer text tokens before the span, padded on the left, so both rows have the span at the same index.
        Qwen2ForCausalLM model = Deep.Value;
        int[] full = TinyQwen2.Ids(1, Length, seed: 28)[0].data<long>().Select(t => (int)t).ToArray();
        int[] shorter = TinyQwen2.Ids(1, Length - 2, seed: 29)[0].data<long>().Select(t => (int)t).ToArray();
        VideoTokenDropping drop = TwoStages();
        var options = new GenerationOptions { MaxNewTokens = 5 };

        IReadOnlyList<int[]> batch = new TokenGenerator(model.WithVideoTokenDropping(drop)).Generate([full, shorter], options);
        int[] fullAlone = new TokenGenerator(model.WithVideoTokenDropping(drop)).Generate([full], options)[0];
        int[] shorterAlone = new TokenGenerator(model.WithVideoTokenDropping(drop with { VisualStart = P0 - 2 })).Generate([shorter], options)[0];

        Assert.Equal(fullAlone, batch[0]);
        Assert.Equal(shorterAlone, batch[1]);
    }

    [Fact]
    public void Generation_with_attention_dropping_gives_the_first_token_of_a_full_forward_with_the_same_drop()
    {
        Qwen2ForCausalLM model = Fixture.Value;
        var drop = new VideoTokenDropping { Mode = VideoTokenDropMode.Attention, Layers = [1], Ratios = [1, 0.5], VisualStart = 2, VisualCount = 8 };
        int[] prompt = [5, 17, 33, 2, 90, 41, 7, 64, 12, 300, 250, 9, 4];

        int[] generated = new TokenGenerator(model.WithVideoTokenDropping(drop)).Generate([prompt], new GenerationOptions { MaxNewTokens = 3 })[0];

        using Tensor ids = tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length]);
        using Qwen2CausalLMOutput full = Run(model, ids, drop);
        Assert.Equal(3, generated.Length);
        Assert.Equal((int)full.Logits[0, -1].argmax().item<long>(), generated[0]);
    }

    [Fact]
    public void Invalid_options_and_a_drop_over_a_filled_cache_are_rejected()
    {
        Qwen2ForCausalLM model = Deep.Value;
        using Tensor ids = TinyQwen2.Ids(1, Length, seed: 27);

        Assert.Throws<ArgumentException>(() => Run(model, ids, TwoStages() with { Layers = [1, 4] }));          // after the last layer
        Assert.Throws<ArgumentException>(() => Run(model, ids, TwoStages() with { Ratios = [1, 0.5] }));         // one ratio short
        Assert.Throws<ArgumentException>(() => Run(model, ids, TwoStages() with { Ratios = [1, 0.25, 0.5] }));   // increasing
        Assert.Throws<ArgumentException>(() => Run(model, ids, TwoStages() with { VisualStart = 20 }));          // span outside
        using Qwen2KvCache cache = model.CreateKvCache(1, 64);
        using Tensor first = ids.narrow(1, 0, 3);
        using (Run(model, first, null, cache))
        {
        }

        Assert.Throws<NotSupportedException>(() => Run(model, ids, TwoStages(), cache));
    }

    /// <summary>V2PE-like positions: 0.25 apart (fractional, so a wrong RoPE would show).</summary>
    private static Tensor V2pe(int length) => (arange(0, length, ScalarType.Float32) * 0.25 + 0.5).view(1, length);

    /// <summary>
    /// flash_rank_drop by hand in float64: RMSNorm with the next layer's weight, q of the last token, k of all, RoPE from
    /// the positions, KV head h / groups for query head h, softmax(q·k/√D) over the row, mean over heads, visual slice.
    /// </summary>
    private static Tensor ReferenceScores(Qwen2ForCausalLM model, Tensor hidden, Tensor positions, int start, int count)
    {
        Qwen2Config c = model.Config;
        Dictionary<string, Tensor> sd = model.state_dict();
        Tensor W(string name) => sd[$"model.layers.1.{name}"].to(ScalarType.Float64);
        int d = c.HeadDim;
        int groups = c.NumAttentionHeads / c.NumKeyValueHeads;
        Tensor h = hidden[0].to(ScalarType.Float64);                                // [L, H]
        long length = h.shape[0];
        Tensor x = h / (h.pow(2).mean([-1L], keepdim: true) + c.RmsNormEps).sqrt() * W("input_layernorm.weight");
        Tensor q = (x[-1].matmul(W("self_attn.q_proj.weight").t()) + W("self_attn.q_proj.bias")).view(c.NumAttentionHeads, d);   // [heads, D]
        Tensor k = (x.matmul(W("self_attn.k_proj.weight").t()) + W("self_attn.k_proj.bias")).view(length, c.NumKeyValueHeads, d);   // [L, kv, D]

        double[] invFreq = Enumerable.Range(0, d / 2).Select(j => 1 / Math.Pow(c.RopeTheta, 2.0 * j / d)).ToArray();
        Tensor angles = positions[0].to(ScalarType.Float64).unsqueeze(1) * tensor(invFreq).unsqueeze(0);   // [L, D/2]
        Tensor Rope(Tensor v, Tensor a)                                             // v [..., D], a [..., D/2]
        {
            Tensor v1 = v.narrow(-1, 0, d / 2);
            Tensor v2 = v.narrow(-1, d / 2, d / 2);
            return cat([v1 * a.cos() - v2 * a.sin(), v2 * a.cos() + v1 * a.sin()], -1);
        }

        Tensor qr = Rope(q, angles[-1].unsqueeze(0));                               // [heads, D]
        Tensor kr = Rope(k, angles.unsqueeze(1));                                   // [L, kv, D]
        var perHead = new List<Tensor>();
        for (int head = 0; head < c.NumAttentionHeads; head++)
        {
            Tensor logits = kr[.., head / groups, ..].matmul(qr[head]) / Math.Sqrt(d);   // [L]
            perHead.Add(logits.softmax(0));
        }

        return stack(perHead).mean([0L]).narrow(0, start, count).unsqueeze(0);      // [1, count]
    }
}
