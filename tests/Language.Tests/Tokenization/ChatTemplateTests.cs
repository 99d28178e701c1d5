using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Tests.Tokenization;

public sealed class When_a_conversation_is_rendered_with_Qwen2s_template
{
    [Fact]
    public void A_default_system_message_opens_a_conversation_without_one()
    {
        string text = ChatTemplate.Qwen2.Render([new ChatMessage(ChatRoles.User, "Hi")], addGenerationPrompt: true);

        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void A_conversation_with_its_own_system_message_keeps_it()
    {
        string text = ChatTemplate.Qwen2.Render(
            [new ChatMessage(ChatRoles.System, "Be brief."), new ChatMessage(ChatRoles.User, "Hi"), new ChatMessage(ChatRoles.Assistant, "Hello.")]);

        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n", text);
    }

    [Fact]
    public void A_system_message_later_in_the_conversation_does_not_replace_the_default()
    {
        string text = ChatTemplate.Qwen2.Render([new ChatMessage(ChatRoles.User, "a"), new ChatMessage(ChatRoles.System, "b")]);

        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>system\nb<|im_end|>\n", text);
    }

    [Fact]
    public void No_messages_render_as_the_generation_prompt_alone()
    {
        Assert.Equal("", ChatTemplate.Qwen2.Render([]));
        Assert.Equal("<|im_start|>assistant\n", ChatTemplate.Qwen2.Render([], addGenerationPrompt: true));
    }

    [Fact]
    public void Content_is_written_verbatim()
    {
        string text = ChatTemplate.Qwen2.Render([new ChatMessage(ChatRoles.System, ""), new ChatMessage(ChatRoles.User, "  spaced \n")]);

        Assert.Equal("<|im_start|>system\n<|im_end|>\n<|im_start|>user\n  spaced \n<|im_end|>\n", text);
    }

    [Fact]
    public void Images_and_videos_become_their_placeholders_in_order()
    {
        var message = new ChatMessage(ChatRoles.User,
            [ChatContent.Image, ChatContent.FromText("Compare with "), ChatContent.Video, ChatContent.Image, ChatContent.FromText("What changed?")]);

        string text = ChatTemplate.Qwen2.Render([message]);

        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                     + "<|im_start|>user\n<image>\nCompare with <video>\n<image>\nWhat changed?<|im_end|>\n", text);
    }

    [Fact]
    public void The_default_system_message_and_separator_can_be_changed()
    {
        var template = new ChatTemplate { DefaultSystemMessage = null, PlaceholderSeparator = "" };

        string text = template.Render([new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText("Why?")])], addGenerationPrompt: true);

        Assert.Equal("<|im_start|>user\n<video>Why?<|im_end|>\n<|im_start|>assistant\n", text);
    }
}

public sealed class When_placeholders_are_expanded
{
    private const int Image = 90, Video = 91;
    private static readonly PlaceholderExpander s_expander = new(Image, Video);

    [Fact]
    public void Each_placeholder_becomes_its_items_token_count_in_order()
    {
        ExpandedPrompt prompt = s_expander.Expand([1, Image, 2, Video, 3, Image], imageTokenCounts: [2, 3], videoTokenCounts: [4]);

        Assert.Equal([1, Image, Image, 2, Video, Video, Video, Video, 3, Image, Image, Image], prompt.Ids);
        Assert.Equal(
            [new VisualSpan(VisualKind.Image, 0, 1, 2), new VisualSpan(VisualKind.Video, 0, 4, 4), new VisualSpan(VisualKind.Image, 1, 9, 3)],
            prompt.Spans);
    }

    [Fact]
    public void A_prompt_without_placeholders_is_unchanged()
    {
        ExpandedPrompt prompt = s_expander.Expand([1, 2, 3], [], []);

        Assert.Equal([1, 2, 3], prompt.Ids);
        Assert.Empty(prompt.Spans);
    }

    [Fact]
    public void More_items_than_placeholders_is_refused_with_both_counts()
    {
        var e = Assert.Throws<PlaceholderMismatchException>(() => s_expander.Expand([1, Image, 2], [196, 196], []));

        Assert.IsAssignableFrom<VideoLongException>(e);
        Assert.Equal((1, 2), (e.Placeholders, e.Items));
        Assert.StartsWith("The prompt has 1 <image> placeholder but 2 images were given.", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fewer_items_than_placeholders_is_refused_with_both_counts()
    {
        var e = Assert.Throws<PlaceholderMismatchException>(() => s_expander.Expand([Video, Video, Video], [], [8]));

        Assert.StartsWith("The prompt has 3 <video> placeholders but 1 video was given.", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_count_below_one_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => s_expander.Expand([Image], [0], []));
    }

    [Fact]
    public void A_tokenizer_without_the_placeholder_tokens_cannot_expand()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.Create(new Dictionary<string, int> { ["a"] = 0 }, []);

        var e = Assert.ThrowsAny<VideoLongException>(() => PlaceholderExpander.ForTokenizer(tokenizer));
        Assert.Contains("<image>", e.Message, StringComparison.Ordinal);
    }
}
