using System.Text.Json;
using VideoLong.Language.Generation;
using VideoLong.Language.Models;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Tokenization;
using VideoLong.Vision.Models;

namespace VideoLong.Language.Tests.Checkpoints;

/// <summary>Runs only when VIDEOLONG_TEST_CHECKPOINT names a local checkpoint folder; skipped with that reason otherwise.</summary>
public sealed class CheckpointFactAttribute : FactAttribute
{
    public const string Variable = "VIDEOLONG_TEST_CHECKPOINT";

    public CheckpointFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"{Variable} names no checkpoint folder; set it to a local Qwen2 or LLaVA-OneVision-Qwen2 checkpoint to run this test.";
        }
    }
}

[Trait("Category", "Slow")]
public sealed class When_a_real_checkpoint_is_loaded
{
    [CheckpointFact]
    public async Task It_answers_greedily_and_a_batch_equals_its_rows()
    {
        string dir = Environment.GetEnvironmentVariable(CheckpointFactAttribute.Variable)!;
        using JsonDocument config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "config.json")));
        string type = config.RootElement.GetProperty("model_type").GetString()!;
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(dir);
        int[] Prompt(string q) => ChatTemplate.Qwen2.Encode(tokenizer, [new ChatMessage(ChatRoles.User, q)], addGenerationPrompt: true);

        ICausalLanguageModel lm;
        IDisposable owner;
        if (type == "llava_onevision")
        {
            var vlm = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(dir);
            (lm, owner) = (vlm.LanguageModel, vlm);
        }
        else
        {
            Qwen2ForCausalLM qwen = await Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions());
            (lm, owner) = (qwen, qwen);
        }

        using (owner)
        {
            var generator = new TokenGenerator(lm);
            var options = new GenerationOptions { MaxNewTokens = 8, PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0 };
            int[] a = Prompt("What is the capital of France? Answer in one word.");
            int[] b = Prompt("Count from one to five.");
            IReadOnlyList<int[]> single = generator.Generate([a], options);
            IReadOnlyList<int[]> batch = generator.Generate([a, b], options);
            Assert.Equal(single[0], batch[0]);
            Assert.Equal(generator.Generate([b], options)[0], batch[1]);
            Assert.False(string.IsNullOrWhiteSpace(tokenizer.Decode(single[0], skipSpecialTokens: true)));
        }
    }
}
