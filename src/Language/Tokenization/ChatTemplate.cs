using System.Text;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Qwen2's chat template (ChatML), for Qwen2 and LLaVA-OneVision-Qwen2, written in C# instead of run through Jinja.
/// For text messages it produces exactly what HF's <c>apply_chat_template</c> does with Qwen2's default template:
/// <code>
/// {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}
///   {{ '&lt;|im_start|&gt;system\nYou are a helpful assistant.&lt;|im_end|&gt;\n' }}{% endif %}
///   {{ '&lt;|im_start|&gt;' + message['role'] + '\n' + message['content'] + '&lt;|im_end|&gt;' + '\n' }}{% endfor %}
/// {% if add_generation_prompt %}{{ '&lt;|im_start|&gt;assistant\n' }}{% endif %}
/// </code>
/// A message's content is its items in order: text as written, each image or video as its placeholder token followed
/// by <see cref="PlaceholderSeparator"/> ("\n", as in LLaVA-OneVision's prompts: "&lt;image&gt;\nWhat is shown?").
/// <see cref="PlaceholderExpander"/> then widens each placeholder to the number of tokens its features take.
/// </summary>
public sealed class ChatTemplate
{
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <summary>Qwen2's template with its default system message.</summary>
    public static ChatTemplate Qwen2 { get; } = new();

    /// <summary>Inserted as the first message when the conversation does not start with a system message; null for none.</summary>
    public string? DefaultSystemMessage { get; init; } = "You are a helpful assistant.";

    public string ImagePlaceholder { get; init; } = "<image>";

    public string VideoPlaceholder { get; init; } = "<video>";

    /// <summary>Written after each visual placeholder.</summary>
    public string PlaceholderSeparator { get; init; } = "\n";

    /// <summary>The prompt text; with <paramref name="addGenerationPrompt"/> it ends with "&lt;|im_start|&gt;assistant\n".</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            ChatMessage message = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            if (i == 0 && message.Role != ChatRoles.System && DefaultSystemMessage is not null)
            {
                AppendTurn(sb, ChatRoles.System, DefaultSystemMessage);
            }

            AppendTurn(sb, message.Role, Content(message));
        }

        if (addGenerationPrompt)
        {
            sb.Append(ImStart).Append(ChatRoles.Assistant).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>The prompt's ids: <see cref="Render"/> encoded by <paramref name="tokenizer"/>.</summary>
    public int[] Encode(Qwen2Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.Encode(Render(messages, addGenerationPrompt));
    }

    private string Content(ChatMessage message)
    {
        if (message.Content is [{ Kind: ChatContentKind.Text } only])
        {
            return only.Text!;
        }

        var sb = new StringBuilder();
        foreach (ChatContent item in message.Content)
        {
            switch (item.Kind)
            {
                case ChatContentKind.Text:
                    sb.Append(item.Text);
                    break;
                case ChatContentKind.Image:
                    sb.Append(ImagePlaceholder).Append(PlaceholderSeparator);
                    break;
                case ChatContentKind.Video:
                    sb.Append(VideoPlaceholder).Append(PlaceholderSeparator);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(message), item.Kind, "Unknown content kind.");
            }
        }

        return sb.ToString();
    }

    private static void AppendTurn(StringBuilder sb, string role, string content) =>
        sb.Append(ImStart).Append(role).Append('\n').Append(content).Append(ImEnd).Append('\n');
}
