using TorchSharp;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.Qwen2;

/// <summary>Tiny random Qwen2 models (hidden 64, 2 layers) with weights drawn from a seeded generator.</summary>
internal static class TinyQwen2
{
    public static Qwen2Config Config(int kvHeads = 2, bool tied = false) => new()
    {
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = kvHeads,
        VocabSize = 96,
        RopeTheta = 10000,
        TieWordEmbeddings = tied,
    };

    /// <summary>A model whose every parameter is drawn from <paramref name="seed"/> (independent of the global generator).</summary>
    public static Qwen2ForCausalLM Create(Qwen2Config? config = null, long seed = 1)
    {
        var model = new Qwen2ForCausalLM(config ?? Config());
        using var generator = new Generator((ulong)seed, CPU);
        using IDisposable noGrad = no_grad();
        foreach ((string name, Tensor p) in model.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            using Tensor noise = randn(p.shape, ScalarType.Float32, generator: generator);
            using Tensor value = name switch
            {
                _ when name.EndsWith("norm.weight", StringComparison.Ordinal) => noise * 0.1 + 1.0,
                _ when name.Contains("embed_tokens", StringComparison.Ordinal) => noise.clone(),
                _ => noise * 0.15,
            };
            p.copy_(value);
        }

        return model;
    }

    /// <summary>Random token ids [B, L] in the tiny vocabulary.</summary>
    public static Tensor Ids(int batch, int length, long seed = 7)
    {
        using var generator = new Generator((ulong)seed, CPU);
        return randint(0, 96, [batch, length], ScalarType.Int64, generator: generator);
    }

    public static Tensor Logits(Qwen2ForCausalLM model, Qwen2CausalLMInput input)
    {
        using Qwen2CausalLMOutput output = model.call(input);
        return output.Logits.clone();
    }
}
