using System.Text;
using VideoLong.Contracts;
using VideoLong.Language;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Artifacts;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// The answer stage: the prompt (time prompt, question, one video placeholder expanded to the token count), the cached
/// visual tokens spliced into the token embeddings as inputs_embeds, then generation. The answer's supporting
/// timestamps are the sampled frames' timestamps.
/// </summary>
public sealed class AnswerGenerator(ArtifactCache cache, ModelRegistry models)
{
    private static readonly string[] EndOfTurnTokens = ["<|im_end|>", "<|endoftext|>"];

    public async Task<AnswerGenerated> GenerateAsync(GenerateAnswer command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        LoadedModel model = await models.GetAsync(command.Model, cancellationToken).ConfigureAwait(false);
        Qwen2Tokenizer tokenizer = model.Tokenizer;
        string question = command.DurationSeconds is { } seconds && command.FrameTimestamps.Count > 0
            ? TimePrompt.WithQuestion(seconds, command.FrameTimestamps.Count, command.Question)
            : command.Question;
        int[] ids = ChatTemplate.Qwen2.Encode(tokenizer, [new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText(question)])], addGenerationPrompt: true);

        await model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using Tensor visual = await VisualTokensArtifact.TryLoadAsync(cache, ArtifactRefs.KeyOf(command.VisualTokens), model.Model.LanguageModel.DType, cancellationToken).ConfigureAwait(false)
                ?? throw new VideoLongException($"Visual tokens {command.VisualTokens.Uri} are not in the cache (evicted?); encode the video again.");
            int[] expanded = PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [], [(int)visual.shape[0]]).Ids;
            using Tensor embeds = Splice(model, expanded, visual);                  // [1, L, H]
            var options = new GenerationOptions
            {
                MaxNewTokens = command.Generation.MaxNewTokens,
                DoSample = command.Generation.Temperature > 0,
                Temperature = command.Generation.Temperature > 0 ? command.Generation.Temperature : 1.0,
                Seed = command.Generation.Seed,
                StopTokenIds = EndOfTurnTokens.Select(tokenizer.TokenToId).OfType<int>().ToArray(),
                PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0,
            };
            var text = new StringBuilder();
            await foreach (string piece in new TokenGenerator(model.Model.LanguageModel).StreamTextAsync(new GenerationPrompt { InputsEmbeds = embeds }, options, tokenizer,
                skipSpecialTokens: true, null, cancellationToken).ConfigureAwait(false))
            {
                text.Append(piece);
            }

            return new AnswerGenerated
            {
                JobId = command.JobId,
                Timestamp = DateTimeOffset.UtcNow,
                Answer = text.ToString().Trim(),
                SupportingTimestamps = command.FrameTimestamps,
            };
        }
        finally
        {
            model.Gate.Release();
        }
    }

    /// <summary>Token embeddings with the video placeholders replaced, in order, by the cached visual tokens.</summary>
    private static Tensor Splice(LoadedModel model, int[] expanded, Tensor visual)
    {
        using IDisposable noGrad = no_grad();
        using DisposeScope scope = NewDisposeScope();
        LlavaOnevisionForConditionalGeneration vlm = model.Model;
        Tensor ids = tensor(expanded.Select(x => (long)x).ToArray(), [1, expanded.Length], device: vlm.LanguageModel.Device);
        Tensor embeds = vlm.LanguageModel.EmbedTokens(ids);                          // [1, L, H]
        Tensor mask = ids.eq(vlm.Config.VideoTokenIndex);                           // [1, L]
        long count = mask.sum().item<long>();
        if (count != visual.shape[0])
        {
            throw new TokenFeatureMismatchException("Video", count, visual.shape[0], "Hint: the visual tokens were encoded for another frame count or compression.");
        }

        Tensor spliced = embeds.masked_scatter(mask.unsqueeze(-1).expand_as(embeds), visual.to(embeds.dtype).to(embeds.device));
        return spliced.MoveToOuterDisposeScope();
    }
}
