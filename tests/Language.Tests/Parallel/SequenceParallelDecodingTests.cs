using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Parallel;
using VideoLong.Language.Tests.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.SequenceParallel;

public sealed class When_tokens_are_generated_over_the_distributed_kv_cache
{
    [Theory]
    [InlineData(1, 1, 24, 2, false)]
    [InlineData(2, 1, 27, 1, false)]   // padding (27 → 28), multi-query
    [InlineData(3, 1, 40, 2, true)]    // padding, V2PE float positions
    [InlineData(4, 2, 45, 2, false)]   // 2D attention, padding
    [InlineData(4, 1, 9, 2, true)]     // padding spread over more than one chunk
    public void Every_step_gives_the_logits_of_the_dense_forward_over_prompt_and_generated_tokens(int ranks, int ulysses, int length, int kvHeads, bool v2pe)
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(kvHeads), seed: 7);
        using var generator = new Generator(29, CPU);
        using Tensor prompt = randn([2, length, 64], generator: generator);
        using Tensor promptPositions = v2pe ? (arange(length, ScalarType.Float32) * 0.25 + 3).unsqueeze(0).expand(2, length).contiguous() : arange(length, ScalarType.Float32).unsqueeze(0).expand(2, length).contiguous();
        using Tensor newTokens = randint(0, model.Config.VocabSize, [2, 4], generator: generator);

        using var parallel = new SequenceParallelQwen2(model, Enumerable.Repeat(CPU, ranks).ToArray()) { UlyssesDegree = ulysses };
        using SequenceParallelPrefill prefill = parallel.Prefill(prompt, v2pe ? promptPositions : null, keepKvCache: true);
        using SequenceParallelDecoding decoding = parallel.StartDecoding(prefill);
        for (int t = 0; t < 4; t++)
        {
            using Tensor ids = newTokens.narrow(1, t, 1);
            using Tensor embeds = model.EmbedTokens(ids);
            using Tensor logits = decoding.Step(embeds);

            // Dense reference: the whole sequence so far (prompt + t + 1 new tokens) at the same positions.
            using Tensor allIds = newTokens.narrow(1, 0, t + 1);
            using Tensor allEmbeds = cat([prompt, model.EmbedTokens(allIds)], 1);
            using Tensor lastPrompt = promptPositions.narrow(1, length - 1, 1);
            using Tensor newPositions = lastPrompt + arange(1, t + 2, ScalarType.Float32).unsqueeze(0);
            using Tensor positions = cat([promptPositions, newPositions], 1);
            using Qwen2CausalLMOutput dense = model.call(new Qwen2CausalLMInput { InputsEmbeds = allEmbeds, PositionIds = positions, LastPositionLogitsOnly = true });
            TensorAssert.Close(dense.Logits.select(1, 0), logits, 1e-5);
        }

        Assert.Equal(4, decoding.Generated);
    }

    [Fact]
    public void Greedy_decoding_gives_the_dense_models_greedy_tokens()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(2), seed: 8);
        using var generator = new Generator(31, CPU);
        using Tensor prompt = randn([1, 33, 64], generator: generator);
        using var parallel = new SequenceParallelQwen2(model, [CPU, CPU, CPU]);
        using SequenceParallelPrefill prefill = parallel.Prefill(prompt, keepKvCache: true);
        using SequenceParallelDecoding decoding = parallel.StartDecoding(prefill);
        IReadOnlyList<long> tokens = decoding.Greedy(6);

        var expected = new List<long>();
        Tensor sequence = prompt.clone();
        for (int t = 0; t < 6; t++)
        {
            using Qwen2CausalLMOutput dense = model.call(new Qwen2CausalLMInput { InputsEmbeds = sequence, LastPositionLogitsOnly = true });
            long next = dense.Logits.select(1, 0).argmax(-1).item<long>();
            expected.Add(next);
            using Tensor id = tensor(new[] { next }, [1, 1], ScalarType.Int64);
            using Tensor embed = model.EmbedTokens(id);
            Tensor longer = cat([sequence, embed], 1);
            sequence.Dispose();
            sequence = longer;
        }

        sequence.Dispose();
        Assert.Equal(expected, tokens);
        using SequenceParallelDecoding again = parallel.StartDecoding(prefill);
        Assert.Equal([expected[0]], again.Greedy(1));
    }

    [Fact]
    public void Decoding_needs_the_kv_cache_and_the_right_shapes()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(seed: 4);
        using var parallel = new SequenceParallelQwen2(model, [CPU, CPU]);
        using Tensor prompt = zeros(1, 12, 64);
        using (SequenceParallelPrefill without = parallel.Prefill(prompt))
        {
            Assert.Contains("keepKvCache", Assert.Throws<SequenceParallelException>(() => parallel.StartDecoding(without)).Message);
        }

        using SequenceParallelPrefill prefill = parallel.Prefill(prompt, keepKvCache: true);
        using SequenceParallelDecoding decoding = parallel.StartDecoding(prefill);
        using Tensor twoTokens = zeros(1, 2, 64);
        Assert.Contains("[1, 1, 64]", Assert.Throws<SequenceParallelException>(() => decoding.Step(twoTokens)).Message);
        Assert.Contains("at least 1", Assert.Throws<SequenceParallelException>(() => decoding.Greedy(0)).Message);
    }

    [Theory]
    [InlineData(24, 2, 1)]
    [InlineData(27, 2, 1)]
    [InlineData(9, 4, 1)]
    [InlineData(45, 4, 2)]
    public void The_cache_segments_cover_exactly_the_real_tokens(long length, int ranks, int ulysses)
    {
        ZigzagPlan plan = ZigzagPlan.Create(length, ranks, ulysses: ulysses);
        var seen = new HashSet<long>();
        foreach ((int rank, long offset, long count) in SequenceParallelDecoding.Segments(plan))
        {
            for (long i = 0; i < count; i++)
            {
                Assert.True(seen.Add(plan.GlobalIndex(rank, offset + i)));
            }
        }

        Assert.Equal(Enumerable.Range(0, (int)length).Select(i => (long)i).ToHashSet(), seen);
    }
}
