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
            using Tensor embeds = VisualEmbeds.Splice(model.Model, expanded, model.Model.Config.VideoTokenIndex, visual);   // [1, L, H]
            bool[] isVisual = expanded.Select(t => t == model.Model.Config.VideoTokenIndex).ToArray();
            using VideoPromptCompression compression = VideoPromptCompression.Apply(model.Model.LanguageModel, isVisual, vlmOptions);
            GenerationOptions options = VisualEmbeds.Options(tokenizer, command.Generation);
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
}
