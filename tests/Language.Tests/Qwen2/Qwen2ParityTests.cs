using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using VideoLong.Vision.Models;

namespace VideoLong.Language.Tests.Qwen2;

/// <summary>The tiny reference checkpoints of tests/fixtures/reference/{qwen2, qwen2_untied}, loaded once, in float32 on CPU.</summary>
internal static class Qwen2Reference
{
    private static readonly Lazy<Task<Qwen2ForCausalLM>> Tied = new(() => Load("qwen2"));
    private static readonly Lazy<Task<Qwen2ForCausalLM>> Untied = new(() => Load("qwen2_untied"));

    public static Task<Qwen2ForCausalLM> Model(string name) => name == "qwen2" ? Tied.Value : Untied.Value;

    private static Task<Qwen2ForCausalLM> Load(string name) =>
        Qwen2ForCausalLM.FromPretrainedAsync(Fixtures.Dir(name), new ModelLoadOptions { Device = "cpu", DType = ScalarType.Float32 }, null, CancellationToken.None);
}

[Trait("Category", "Parity")]
public sealed class When_qwen2_runs_the_reference_prompt
{
    private const double LogitsTolerance = 1e-4;   // fp32, max abs diff

    [Fact]
    public async Task Its_logits_match_transformers()
    {
        Qwen2ForCausalLM model = await Qwen2Reference.Model("qwen2");
        using Tensor ids = Fixtures.Reference("qwen2", "input_ids");
        using Tensor expected = Fixtures.Reference("qwen2", "logits");

        using Tensor actual = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });

        TensorAssert.Close(expected, actual, LogitsTolerance);
    }

    [Fact]
    public async Task Its_logits_at_quarter_step_float_positions_match_transformers()
    {
        Qwen2ForCausalLM model = await Qwen2Reference.Model("qwen2");
        using Tensor ids = Fixtures.Reference("qwen2", "input_ids");
        using Tensor positions = Fixtures.Reference("qwen2", "position_ids_float");
        using Tensor expected = Fixtures.Reference("qwen2", "logits_float_positions");

        using Tensor actual = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids, PositionIds = positions });

        Assert.Equal(ScalarType.Float32, positions.dtype);
        TensorAssert.Close(expected, actual, LogitsTolerance);
    }

    [Fact]
    public async Task Its_left_padded_batch_logits_match_transformers_at_real_positions()
    {
        Qwen2ForCausalLM model = await Qwen2Reference.Model("qwen2");
        using Tensor ids = Fixtures.Reference("qwen2", "batch_input_ids");
        using Tensor mask = Fixtures.Reference("qwen2", "batch_attention_mask");
        using Tensor expected = Fixtures.Reference("qwen2", "batch_logits");

        using Tensor actual = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids, AttentionMask = mask });

        Assert.Equal(expected.shape, actual.shape);
        long length = ids.shape[1];
        for (int b = 0; b < ids.shape[0]; b++)
        {
            long real = mask[b].sum().item<long>();
            using Tensor expectedRow = expected[b].narrow(0, length - real, real);
            using Tensor actualRow = actual[b].narrow(0, length - real, real);
            TensorAssert.Close(expectedRow, actualRow, LogitsTolerance);
        }
    }

    [Fact]
    public async Task Its_twenty_greedy_tokens_are_those_of_transformers()
    {
        Qwen2ForCausalLM model = await Qwen2Reference.Model("qwen2");
        using Tensor prompt = Fixtures.Reference("qwen2", "greedy_input_ids");
        using Tensor expected = Fixtures.Reference("qwen2", "greedy_output_ids");
        long[] expectedIds = expected.data<long>().ToArray();
        int promptLength = (int)prompt.shape[1];

        IReadOnlyList<int[]> generated = new TokenGenerator(model).Generate(
            new GenerationPrompt { InputIds = prompt }, new GenerationOptions { MaxNewTokens = 20 });

        Assert.Equal(promptLength + 20, expectedIds.Length);
        Assert.Equal(expectedIds.Skip(promptLength).Select(t => (int)t).ToArray(), generated[0]);
    }
}

[Trait("Category", "Parity")]
public sealed class When_qwen2_with_an_untied_lm_head_runs_the_reference_prompt
{
    [Fact]
    public async Task Its_logits_match_transformers()
    {
        Qwen2ForCausalLM model = await Qwen2Reference.Model("qwen2_untied");
        using Tensor ids = Fixtures.Reference("qwen2_untied", "input_ids");
        using Tensor expected = Fixtures.Reference("qwen2_untied", "logits");

        using Tensor actual = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });

        Assert.False(model.Config.TieWordEmbeddings);
        TensorAssert.Close(expected, actual, 1e-4);
    }
}

public sealed class When_a_qwen2_checkpoint_does_not_match_its_config
{
    [Fact]
    public async Task A_missing_tensor_fails_naming_it()
    {
        string dir = CopyFixture("qwen2", (name, t) => name == "model.layers.1.mlp.down_proj.weight" ? null : t);
        try
        {
            var e = await Assert.ThrowsAsync<WeightLoadException>(() =>
                Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions(), null, CancellationToken.None));

            Assert.Equal(["model.layers.1.mlp.down_proj.weight"], e.Missing);
            Assert.Contains("missing:    model.layers.1.mlp.down_proj.weight", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_mis_shaped_tensor_fails_naming_it_with_both_shapes()
    {
        string dir = CopyFixture("qwen2", (name, t) => name == "model.norm.weight" ? t.narrow(0, 0, t.shape[0] - 1) : t);
        try
        {
            var e = await Assert.ThrowsAsync<WeightLoadException>(() =>
                Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions(), null, CancellationToken.None));

            string mismatch = Assert.Single(e.Mismatched);
            Assert.StartsWith("model.norm.weight: expected [", mismatch, StringComparison.Ordinal);
            Assert.Contains("shape mismatch for model.norm.weight", e.Message, StringComparison.Ordinal);
            Assert.Empty(e.Missing);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task An_unexpected_tensor_fails_naming_it()
    {
        string dir = CopyFixture("qwen2", (_, t) => t, extra: ("lm_head.bias", zeros(4)));
        try
        {
            var e = await Assert.ThrowsAsync<WeightLoadException>(() =>
                Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions(), null, CancellationToken.None));

            Assert.Equal(["lm_head.bias"], e.Unexpected);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A temp copy of a fixture's config.json and model.safetensors with tensors edited (null drops one).</summary>
    private static string CopyFixture(string name, Func<string, Tensor, Tensor?> edit, (string Name, Tensor Tensor)? extra = null)
    {
        string source = Fixtures.Dir(name);
        string dir = Directory.CreateTempSubdirectory("videolong-qwen2-bad-").FullName;
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(source);
        using DisposeScope scope = NewDisposeScope();
        var tensors = new List<(string, Tensor)>();
        foreach (string key in checkpoint.Names.Order(StringComparer.Ordinal))
        {
            if (edit(key, checkpoint.Load(key)) is { } t)
            {
                tensors.Add((key, t));
            }
        }

        if (extra is { } e)
        {
            tensors.Add(e);
        }

        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
        return dir;
    }
}
