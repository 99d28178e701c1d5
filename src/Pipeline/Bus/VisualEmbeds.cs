using System.Globalization;
using System.Text;
using VideoLong.Contracts;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Artifacts;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Bus;

/// <summary>Token embeddings with visual features in place of their placeholders, and greedy/sampled generation over them.</summary>
internal static class VisualEmbeds
{
    private static readonly string[] EndOfTurnTokens = ["<|im_end|>", "<|endoftext|>"];

    /// <summary>[1, L, H]: the embeddings of <paramref name="expanded"/> with the <paramref name="placeholder"/> rows replaced, in order, by <paramref name="visual"/>.</summary>
    public static Tensor Splice(LlavaOnevisionForConditionalGeneration vlm, int[] expanded, int placeholder, Tensor visual)
    {
        using IDisposable noGrad = no_grad();
        using DisposeScope scope = NewDisposeScope();
        Tensor ids = tensor(expanded.Select(x => (long)x).ToArray(), [1, expanded.Length], device: vlm.LanguageModel.Device);
        Tensor embeds = vlm.LanguageModel.EmbedTokens(ids);
        return LlavaOnevisionForConditionalGeneration.Splice(embeds, ids, placeholder, visual, "Video", "Hint: the visual tokens were encoded for another frame count or compression.").MoveToOuterDisposeScope();
    }

    /// <summary>Greedy unless a temperature is set; stops at the end of the turn unless <see cref="GenerationSettings.IgnoreEos"/>.</summary>
    public static GenerationOptions Options(Qwen2Tokenizer tokenizer, GenerationSettings generation) => new()
    {
        MaxNewTokens = generation.MaxNewTokens,
        DoSample = generation.Temperature > 0,
        Temperature = generation.Temperature > 0 ? generation.Temperature : 1.0,
        Seed = generation.Seed,
        StopTokenIds = generation.IgnoreEos ? [] : EndOfTurnTokens.Select(tokenizer.TokenToId).OfType<int>().ToArray(),
        PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0,
    };

    public static async Task<string> GenerateAsync(LoadedModel model, Tensor embeds, GenerationSettings generation, CancellationToken cancellationToken)
    {
        Qwen2Tokenizer tokenizer = model.Tokenizer;
        GenerationOptions options = Options(tokenizer, generation);
        var text = new StringBuilder();
        await foreach (string piece in new TokenGenerator(model.Model.LanguageModel).StreamTextAsync(new GenerationPrompt { InputsEmbeds = embeds }, options, tokenizer,
            skipSpecialTokens: true, null, cancellationToken).ConfigureAwait(false))
        {
            text.Append(piece);
        }

        return text.ToString().Trim();
    }
}
