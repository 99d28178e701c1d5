using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Tests.Tokenization;

// Parity with transformers 5.17 (tests/fixtures/reference/tokenizer/cases.json), through both loading routes.

[Trait("Category", "Parity")]
public sealed class When_text_is_encoded
{
    [Theory]
    [MemberData(nameof(TokenizerFixture.Routes), MemberType = typeof(TokenizerFixture))]
    public void It_matches_transformers(string route)
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load(route);
        Assert.NotEmpty(TokenizerFixture.All.Encode);

        var failures = TokenizerFixture.All.Encode
            .Select(c => (c, actual: tokenizer.Encode(c.Text)))
            .Where(x => !x.c.Ids.SequenceEqual(x.actual))
            .Select(x => $"{TokenizerFixture.Show(x.c.Text)}: expected [{string.Join(", ", x.c.Ids)}], got [{string.Join(", ", x.actual)}]")
            .ToList();

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Both_loading_routes_give_the_same_ids()
    {
        Qwen2Tokenizer json = TokenizerFixture.Load("tokenizer.json");
        Qwen2Tokenizer files = TokenizerFixture.Load("vocab.json+merges.txt");
        IEnumerable<string> texts = TokenizerFixture.All.Encode.Select(c => c.Text)
            .Concat(TokenizerFixture.All.Chat.Select(c => c.Text))
            .Concat(["😀abc 𠀀𠀁 x\u00a0\u3000y", "<|endoftext|><|endoftext|>", "<imag<image>e>", "Ǆ ǅ ǆ ﬁ ½ Ⅻ ٣"]);

        foreach (string text in texts)
        {
            Assert.Equal(json.Encode(text), files.Encode(text));
        }

        Assert.Equal(json.VocabularySize, files.VocabularySize);
        Assert.Equal(json.AddedTokens, files.AddedTokens);
    }

    [Fact]
    public void One_tokenizer_can_be_shared_between_threads()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(TokenizerFixture.Dir);
        TokenizerFixture.EncodeCase[] cases = [.. TokenizerFixture.All.Encode];

        System.Threading.Tasks.Parallel.For(0, 2000, i =>
        {
            TokenizerFixture.EncodeCase c = cases[i % cases.Length];
            Assert.Equal(c.Ids, tokenizer.Encode(c.Text));
        });
    }

    [Theory]
    [MemberData(nameof(TokenizerFixture.Routes), MemberType = typeof(TokenizerFixture))]
    public void Its_vocabulary_counts_added_tokens_as_len_tokenizer_does(string route)
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load(route);

        Assert.Equal(422, tokenizer.VocabularySize); // 420 BPE tokens (3 special among them) + <image>, <video>
        Assert.Equal([0, 1, 2, 420, 421], tokenizer.AddedTokens.Select(t => t.Id));
        Assert.All(tokenizer.AddedTokens, t => Assert.True(t.Special));
        Assert.Equal(420, tokenizer.TokenToId("<image>"));
        Assert.Equal(421, tokenizer.TokenToId("<video>"));
        Assert.Equal(2, tokenizer.TokenToId("<|im_end|>"));
        Assert.Equal("<|im_start|>", tokenizer.IdToToken(1));
        Assert.Equal(223, tokenizer.TokenToId("Ġ"));
        Assert.Equal("Ġ", tokenizer.IdToToken(223));
        Assert.Null(tokenizer.TokenToId("not a token"));
        Assert.Null(tokenizer.IdToToken(422));
    }
}

[Trait("Category", "Parity")]
public sealed class When_ids_are_decoded
{
    [Theory]
    [MemberData(nameof(TokenizerFixture.Routes), MemberType = typeof(TokenizerFixture))]
    public void It_matches_transformers_with_and_without_special_tokens(string route)
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load(route);
        Assert.NotEmpty(TokenizerFixture.All.Decode);

        foreach (TokenizerFixture.DecodeCase c in TokenizerFixture.All.Decode)
        {
            Assert.Equal(c.Text, tokenizer.Decode(c.Ids, c.SkipSpecialTokens));
        }
    }

    [Theory]
    [MemberData(nameof(TokenizerFixture.Routes), MemberType = typeof(TokenizerFixture))]
    public void Streaming_them_one_at_a_time_gives_the_same_text(string route)
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load(route);

        foreach (TokenizerFixture.DecodeCase c in TokenizerFixture.All.Decode)
        {
            IncrementalDecoder stream = tokenizer.CreateIncrementalDecoder(c.SkipSpecialTokens);
            string streamed = string.Concat(c.Ids.Select(stream.Append)) + stream.Flush();
            Assert.Equal(c.Text, streamed);
        }
    }

    [Fact]
    public void Encoding_then_decoding_gives_back_the_NFC_text()
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load("tokenizer.json");

        foreach (TokenizerFixture.EncodeCase c in TokenizerFixture.All.Encode)
        {
            Assert.Equal(UnicodeNormalizer.Nfc(c.Text), tokenizer.Decode(tokenizer.Encode(c.Text)));
        }
    }
}

[Trait("Category", "Parity")]
public sealed class When_a_chat_is_rendered
{
    [Fact]
    public void Its_text_matches_apply_chat_template()
    {
        Assert.NotEmpty(TokenizerFixture.All.Chat);

        foreach (TokenizerFixture.ChatCase c in TokenizerFixture.All.Chat)
        {
            ChatMessage[] messages = [.. c.Messages.Select(m => new ChatMessage(m.Role, m.Content))];
            Assert.Equal(c.Text, ChatTemplate.Qwen2.Render(messages, c.AddGenerationPrompt));
        }
    }

    [Theory]
    [MemberData(nameof(TokenizerFixture.Routes), MemberType = typeof(TokenizerFixture))]
    public void Its_ids_match_transformers(string route)
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load(route);

        foreach (TokenizerFixture.ChatCase c in TokenizerFixture.All.Chat)
        {
            ChatMessage[] messages = [.. c.Messages.Select(m => new ChatMessage(m.Role, m.Content))];
            Assert.Equal(c.Ids, ChatTemplate.Qwen2.Encode(tokenizer, messages, c.AddGenerationPrompt));
        }
    }

    [Fact]
    public void A_video_content_item_renders_like_the_placeholder_written_in_the_text()
    {
        // The fixture's second conversation writes "<video>\n…" by hand; the content-list form must give the same prompt.
        TokenizerFixture.ChatCase c = TokenizerFixture.All.Chat.First(x => x.Messages.Any(m => m.Content.StartsWith("<video>\n", StringComparison.Ordinal)));
        ChatMessage[] messages = [.. c.Messages.Select(m => m.Content.StartsWith("<video>\n", StringComparison.Ordinal)
            ? new ChatMessage(m.Role, [ChatContent.Video, ChatContent.FromText(m.Content["<video>\n".Length..])])
            : new ChatMessage(m.Role, m.Content))];

        Assert.Equal(c.Text, ChatTemplate.Qwen2.Render(messages, c.AddGenerationPrompt));
    }

    [Fact]
    public void The_template_it_follows_is_the_one_stored_with_the_tokenizer()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(TokenizerFixture.Dir);

        Assert.Contains("You are a helpful assistant.", tokenizer.ChatTemplateSource, StringComparison.Ordinal);
        Assert.Contains("'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'", tokenizer.ChatTemplateSource, StringComparison.Ordinal);
    }
}

[Trait("Category", "Parity")]
public sealed class When_a_prompt_with_a_video_is_expanded
{
    [Fact]
    public void The_video_placeholder_becomes_as_many_tokens_as_the_video_has_features()
    {
        Qwen2Tokenizer tokenizer = TokenizerFixture.Load("tokenizer.json");
        int[] ids = ChatTemplate.Qwen2.Encode(tokenizer,
            [new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText("When does the rocket launch?")])], addGenerationPrompt: true);

        ExpandedPrompt prompt = PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [], [64]);

        VisualSpan span = Assert.Single(prompt.Spans);
        Assert.Equal(ids.Length + 63, prompt.Ids.Length);
        Assert.Equal(Enumerable.Repeat(421, 64), prompt.Ids.Skip(span.Start).Take(64));
        Assert.Equal(ids[..Array.IndexOf(ids, 421)], prompt.Ids[..span.Start]);
        Assert.Equal(ids[(Array.IndexOf(ids, 421) + 1)..], prompt.Ids[(span.Start + 64)..]);
    }
}
