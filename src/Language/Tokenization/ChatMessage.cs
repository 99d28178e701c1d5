namespace VideoLong.Language.Tokenization;

/// <summary>What a content item is: text, or a visual item shown to the model through a placeholder token.</summary>
public enum ChatContentKind
{
    Text,
    Image,
    Video,
}

/// <summary>
/// One item of a message's content, LLaVA-OneVision style (<c>{"type": "text", "text": …}</c>,
/// <c>{"type": "image"}</c>, <c>{"type": "video"}</c>). Visual items carry no pixels: the prompt only marks where
/// they go, and the VLM supplies their features.
/// </summary>
public sealed record ChatContent
{
    private ChatContent(ChatContentKind kind, string? text)
    {
        Kind = kind;
        Text = text;
    }

    public ChatContentKind Kind { get; }

    /// <summary>The text of a <see cref="ChatContentKind.Text"/> item; null for visual items.</summary>
    public string? Text { get; }

    public static ChatContent Image { get; } = new(ChatContentKind.Image, null);

    public static ChatContent Video { get; } = new(ChatContentKind.Video, null);

    public static ChatContent FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new ChatContent(ChatContentKind.Text, text);
    }
}

/// <summary>A chat message: a role ("system", "user", "assistant") and its content items in order.</summary>
public sealed record ChatMessage
{
    public ChatMessage(string role, IReadOnlyList<ChatContent> content)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(role);
        ArgumentNullException.ThrowIfNull(content);
        if (content.Any(c => c is null))
        {
            throw new ArgumentException("A content item is null.", nameof(content));
        }

        Role = role;
        Content = content;
    }

    /// <summary>A text-only message (HF's <c>{"role": role, "content": text}</c>).</summary>
    public ChatMessage(string role, string text)
        : this(role, [ChatContent.FromText(text)])
    {
    }

    public string Role { get; }

    public IReadOnlyList<ChatContent> Content { get; }
}

/// <summary>The roles Qwen2's template knows.</summary>
public static class ChatRoles
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
}
