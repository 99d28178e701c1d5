using VideoLong.Language;
using VideoLong.Language.Tokenization;

namespace VideoLong.Pipeline.Training;

/// <summary>
/// The token sequence of one sample, exactly as <c>videolong ask</c> builds its prompt (Qwen2 chat template with the
/// default system message, one &lt;video&gt; expanded to the visual token count, the time prompt before the question),
/// followed by the answer and &lt;|im_end|&gt; (the only tokens the loss is taken on).
/// </summary>
public sealed class TinyPrompts(Qwen2Tokenizer tokenizer)
{
    public const int IgnoreIndex = -100;

    private readonly PlaceholderExpander _expander = PlaceholderExpander.ForTokenizer(tokenizer);
    private readonly int _imEnd = tokenizer.TokenToId(ChatTemplate.ImEnd) ?? throw new VideoLongException("The tokenizer lacks <|im_end|>.");

    public Qwen2Tokenizer Tokenizer { get; } = tokenizer;

    public int PadId { get; } = tokenizer.TokenToId("<|endoftext|>") ?? 0;

    public int ImEndId => _imEnd;

    /// <summary>The user turn's text: time prompt and question.</summary>
    public static string UserText(SyntheticSample sample) => TimePrompt.WithQuestion(sample.DurationSeconds, sample.Frames.Length, sample.Question);

    /// <summary>The rendered prompt text (before expansion), ending with the assistant header.</summary>
    public static string PromptText(SyntheticSample sample) =>
        ChatTemplate.Qwen2.Render([new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText(UserText(sample))])], addGenerationPrompt: true);

    /// <summary>Prompt ids with the video placeholder expanded to <paramref name="videoTokens"/> tokens.</summary>
    public int[] PromptIds(SyntheticSample sample, int videoTokens) => _expander.Expand(Tokenizer.Encode(PromptText(sample)), [], [videoTokens]).Ids;

    /// <summary>(ids, labels) of prompt + answer + &lt;|im_end|&gt;; labels are <see cref="IgnoreIndex"/> except on the answer and &lt;|im_end|&gt;.</summary>
    public (int[] Ids, int[] Labels) TrainingIds(SyntheticSample sample, int videoTokens)
    {
        int[] prompt = PromptIds(sample, videoTokens);
        int[] answer = [.. Tokenizer.Encode(sample.Answer), _imEnd];
        int[] ids = [.. prompt, .. answer];
        int[] labels = [.. Enumerable.Repeat(IgnoreIndex, prompt.Length), .. answer];
        return (ids, labels);
    }
}
