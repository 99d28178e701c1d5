using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Parallel;
using VideoLong.Language.Tests.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.SequenceParallel;

public sealed class When_the_qwen2_decoder_runs_sequence_parallel
{
    [Theory]
    [InlineData(1, 24, 2, false)]
    [InlineData(2, 24, 2, false)]
    [InlineData(2, 27, 1, false)]   // padding, multi-query
    [InlineData(3, 40, 2, true)]    // padding, V2PE float positions
    [InlineData(4, 64, 4, true)]    // V2PE, no GQA
    [InlineData(4, 45, 2, false)]   // padding
    public void Hidden_states_and_last_logits_equal_the_dense_forward(int ranks, int length, int kvHeads, bool v2pe)
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(kvHeads), seed: 3);
        using var generator = new Generator(17, CPU);
        using Tensor embeds = randn([2, length, 64], generator: generator);
        using Tensor? positions = v2pe ? (arange(length, ScalarType.Float32) * 0.25 + 3).unsqueeze(0).expand(2, length).contiguous() : null;

        using Qwen2CausalLMOutput dense = model.call(new Qwen2CausalLMInput { InputsEmbeds = embeds, PositionIds = positions, HiddenStatesIndex = -1 });
        using var parallel = new SequenceParallelQwen2(model, Enumerable.Repeat(CPU, ranks).ToArray());
        using SequenceParallelPrefill result = parallel.Prefill(embeds, positions, new RingAttentionOptions { QueryTile = 4, KeyTile = 3 });
        using Tensor hidden = result.GatherHidden();
        TensorAssert.Close(dense.HiddenStates!, hidden, 1e-5);
        using Tensor lastDense = dense.Logits.select(1, length - 1);            // [B, V]
        TensorAssert.Close(lastDense, result.LastLogits, 1e-5);
    }

    [Theory]
    [InlineData(4, 2, 45, 2)]     // 2D: P_u = 2, P_r = 2, padding
    [InlineData(4, 2, 40, 1)]     // one KV head, replicated over the Ulysses ranks
    [InlineData(2, 2, 24, 2)]     // Ulysses only
    [InlineData(4, 4, 64, 4)]     // Ulysses only, P = 4
    public void With_ulysses_all_to_all_the_hidden_states_equal_the_dense_forward(int ranks, int ulysses, int length, int kvHeads)
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(kvHeads), seed: 5);
        using var generator = new Generator(23, CPU);
        using Tensor embeds = randn([2, length, 64], generator: generator);
        using Qwen2CausalLMOutput dense = model.call(new Qwen2CausalLMInput { InputsEmbeds = embeds, HiddenStatesIndex = -1 });
        using var parallel = new SequenceParallelQwen2(model, Enumerable.Repeat(CPU, ranks).ToArray()) { UlyssesDegree = ulysses };
        using SequenceParallelPrefill result = parallel.Prefill(embeds);
        Assert.Equal(ulysses, result.Plan.UlyssesDegree);
        using Tensor hidden = result.GatherHidden();
        TensorAssert.Close(dense.HiddenStates!, hidden, 1e-5);
        using Tensor lastDense = dense.Logits.select(1, length - 1);
        TensorAssert.Close(lastDense, result.LastLogits, 1e-5);
    }

    [Fact]
    public void A_ulysses_degree_that_does_not_divide_the_heads_or_ranks_is_refused()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(seed: 4);      // 4 heads
        Assert.Contains("4 attention heads", Assert.Throws<SequenceParallelException>(() => new SequenceParallelQwen2(model, [CPU, CPU, CPU]) { UlyssesDegree = 3 }).Message);
        Assert.Contains("divide", Assert.Throws<SequenceParallelException>(() => new SequenceParallelQwen2(model, [CPU, CPU, CPU, CPU]) { UlyssesDegree = 8 }).Message);
        Assert.Contains("divide", Assert.Throws<SequenceParallelException>(() => new SequenceParallelQwen2(model, [CPU, CPU]) { UlyssesDegree = 0 }).Message);
    }

    [Fact]
    public void Ranks_with_their_own_weight_copies_give_the_same_result()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(kvHeads: 2, tied: true), seed: 8);
        using var generator = new Generator(9, CPU);
        using Tensor embeds = randn([1, 30, 64], generator: generator);
        using var shared = new SequenceParallelQwen2(model, [CPU, CPU, CPU]);
        using var copied = new SequenceParallelQwen2(model, [CPU, CPU, CPU], copyPerRank: true);
        Assert.All(shared.Replicas, m => Assert.Same(model, m));
        Assert.Equal(3, copied.Replicas.Distinct().Count());
        Assert.DoesNotContain(model, copied.Replicas);
        using SequenceParallelPrefill a = shared.Prefill(embeds);
        using SequenceParallelPrefill b = copied.Prefill(embeds);
        using Tensor ha = a.GatherHidden(), hb = b.GatherHidden();
        TensorAssert.Close(ha, hb, 0);
        TensorAssert.Close(a.LastLogits, b.LastLogits, 0);
    }

    [Fact]
    public void Position_ids_matter_so_the_comparison_can_fail()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(seed: 4);
        using var generator = new Generator(5, CPU);
        using Tensor embeds = randn([1, 20, 64], generator: generator);
        using var parallel = new SequenceParallelQwen2(model, [CPU, CPU]);
        using SequenceParallelPrefill plain = parallel.Prefill(embeds);
        using Tensor shifted = (arange(20, ScalarType.Float32) * 3).unsqueeze(0);
        using SequenceParallelPrefill moved = parallel.Prefill(embeds, shifted);
        Assert.False(plain.LastLogits.allclose(moved.LastLogits, 1e-3, 1e-3));
    }

    [Fact]
    public void Wrong_inputs_are_refused()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(seed: 4);
        using var parallel = new SequenceParallelQwen2(model, [CPU, CPU, CPU]);
        using Tensor narrow = zeros(1, 10, 32);
        Assert.Contains("[B, L, 64]", Assert.Throws<SequenceParallelException>(() => parallel.Prefill(narrow)).Message);
        using Tensor tooShort = zeros(1, 5, 64);
        Assert.Contains("at most 2 ranks", Assert.Throws<SequenceParallelException>(() => parallel.Prefill(tooShort)).Message);
        using Tensor embeds = zeros(1, 12, 64);
        using Tensor positions = zeros(1, 11);
        Assert.Contains("Position ids", Assert.Throws<SequenceParallelException>(() => parallel.Prefill(embeds, positions)).Message);
        Assert.Throws<SequenceParallelException>(() => new SequenceParallelQwen2(model, []));
    }
}
