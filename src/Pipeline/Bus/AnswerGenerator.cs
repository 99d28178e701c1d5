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

    public Task<AnswerGenerated> GenerateAsync(GenerateAnswer command, CancellationToken cancellationToken) =>
        GenerateAsync(command, null, cancellationToken);

    /// <summary>
    /// Generates the answer; <paramref name="onToken"/> is called after each token with the text it completed (often
    /// empty: a character may take several tokens) and the tokens generated so far, so the caller can stream it. Video-level dropping and V2PE apply as
    /// <see cref="CompressionSettings"/> say, through <see cref="VideoPromptCompression"/> exactly as <c>videolong chat</c>.
    /// </summary>
    /// <exception cref="VideoLongException">The visual tokens are gone from the cache, or the compression settings are invalid for the model.</exception>
    public async Task<AnswerGenerated> GenerateAsync(GenerateAnswer command, Func<string, int, Task>? onToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        LoadedModel model = await models.GetAsync(command.Model, cancellationToken).ConfigureAwait(false);
        VlmOptions vlmOptions = CompressionOptions.ToVlmOptions(command.Compression);
        VideoPromptCompression.Validate(vlmOptions, model.Model.Config.TextConfig.NumHiddenLayers);
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
            bool[] isVisual = expanded.Select(t => t == model.Model.Config.VideoTokenIndex).ToArray();
            using VideoPromptCompression compression = VideoPromptCompression.Apply(model.Model.LanguageModel, isVisual, vlmOptions);
            var options = new GenerationOptions
            {
                MaxNewTokens = command.Generation.MaxNewTokens,
                DoSample = command.Generation.Temperature > 0,
                Temperature = command.Generation.Temperature > 0 ? command.Generation.Temperature : 1.0,
                Seed = command.Generation.Seed,
                StopTokenIds = command.Generation.IgnoreEos ? [] : EndOfTurnTokens.Select(tokenizer.TokenToId).OfType<int>().ToArray(),
                PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0,
            };
            var text = new StringBuilder();
            IncrementalDecoder decoder = tokenizer.CreateIncrementalDecoder(skipSpecialTokens: true);
            var prompt = new GenerationPrompt { InputsEmbeds = embeds, PositionIds = compression.PositionIds };
            int generated = 0;
            await foreach (int token in new TokenGenerator(compression.Model).StreamAsync(prompt, options, cancellationToken).ConfigureAwait(false))
            {
                generated++;
                string piece = decoder.Append(token);
                text.Append(piece);
                if (onToken is not null)
                {
                    await onToken(piece, generated).ConfigureAwait(false);
                }
            }

            string rest = decoder.Flush();
            text.Append(rest);
            if (onToken is not null && rest.Length > 0)
            {
                await onToken(rest, generated).ConfigureAwait(false);
            }

            return new AnswerGenerated
            {
                JobId = command.JobId,
                Timestamp = DateTimeOffset.UtcNow,
                Answer = text.ToString().Trim(),
                SupportingTimestamps = command.FrameTimestamps,
                VisualTokensAfterDropping = compression.VisualTokensAfterDropping,
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
