using System.Text;
using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Tests.Tokenization;

public sealed class When_bytes_are_written_byte_level
{
    [Fact]
    public void Printable_Latin1_bytes_stand_for_themselves()
    {
        Assert.Equal('!', ByteLevel.ToChar((byte)'!'));
        Assert.Equal('~', ByteLevel.ToChar((byte)'~'));
        Assert.Equal('¡', ByteLevel.ToChar(0xA1));
        Assert.Equal('¬', ByteLevel.ToChar(0xAC));
        Assert.Equal('®', ByteLevel.ToChar(0xAE));
        Assert.Equal('ÿ', ByteLevel.ToChar(0xFF));
    }

    [Fact]
    public void The_other_68_bytes_take_U0100_onwards_in_byte_order()
    {
        // 0x00..0x20 are the first 33 (U+0100..U+0120), 0x7F..0xA0 the next 34 (U+0121..U+0142), 0xAD the last.
        Assert.Equal('\u0100', ByteLevel.ToChar(0x00));
        Assert.Equal('Ċ', ByteLevel.ToChar((byte)'\n'));   // U+010A
        Assert.Equal('Ġ', ByteLevel.ToChar((byte)' '));    // U+0120
        Assert.Equal('ġ', ByteLevel.ToChar(0x7F));         // U+0121
        Assert.Equal('\u0142', ByteLevel.ToChar(0xA0));
        Assert.Equal('Ń', ByteLevel.ToChar(0xAD));         // U+0143
    }

    [Fact]
    public void The_table_is_a_bijection_over_256_characters()
    {
        var chars = Enumerable.Range(0, 256).Select(b => ByteLevel.ToChar((byte)b)).ToList();

        Assert.Equal(256, chars.Distinct().Count());
        for (int b = 0; b < 256; b++)
        {
            Assert.True(ByteLevel.TryGetByte(chars[b], out byte back));
            Assert.Equal(b, back);
        }
    }

    [Fact]
    public void Utf8_text_reads_as_the_vocabulary_spells_it()
    {
        Assert.Equal("ĠcafÃ©", ByteLevel.Encode(Encoding.UTF8.GetBytes(" café")));
        Assert.Equal("ðŁļĢ", ByteLevel.Encode(Encoding.UTF8.GetBytes("🚀")));   // F0 9F 9A 80
    }
}

public sealed class When_text_is_pre_tokenized
{
    private static string[] Split(string text) =>
        [.. Qwen2PreTokenizer.Split(text).Select(p => text.Substring(p.Offset, p.Length))];

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("hello  world", new[] { "hello", " ", " world" })]                 // \s+(?!\S) leaves the last space to the word
    [InlineData("  leading and trailing  ", new[] { " ", " leading", " and", " trailing", "  " })]
    [InlineData("it's they're we'll I'D", new[] { "it", "'s", " they", "'re", " we", "'ll", " I", "'D" })]
    [InlineData("'hello", new[] { "'hello" })]                                    // not a contraction: one punctuation + letters
    [InlineData("1234 3.14", new[] { "1", "2", "3", "4", " ", "3", ".", "1", "4" })] // digits one by one
    [InlineData("a\n\nb", new[] { "a", "\n\n", "b" })]
    [InlineData("x  !!\n\ny", new[] { "x", " ", " !!\n\n", "y" })]              // punctuation takes the newlines after it
    [InlineData(" \n  x", new[] { " \n", " ", " x" })]                            // \s*[\r\n]+ stops at the last newline
    [InlineData("line\r\nnext", new[] { "line", "\r\n", "next" })]
    [InlineData("tabs\t\tand", new[] { "tabs", "\t", "\tand" })]
    [InlineData("東京タワーの夜景。", new[] { "東京タワーの夜景", "。" })]
    public void It_splits_as_Qwen2s_regex_does(string text, string[] pieces)
    {
        Assert.Equal(pieces, Split(text));
    }

    [Fact]
    public void Characters_outside_the_BMP_are_classified_as_code_points_not_surrogates()
    {
        // .NET's Regex sees "😀" as two surrogates (not \p{L}) and would split "😀abc" into "😀" + "abc"; HF (Oniguruma)
        // reads code points: "😀" is the optional [^\r\n\p{L}\p{N}] before the letters.
        Assert.Equal(["😀abc"], Split("😀abc"));
        Assert.Equal([" 𠀀𠀁"], Split(" 𠀀𠀁"));             // CJK Extension B letters
        Assert.Equal(["x", "𝟘", "𝟙"], Split("x𝟘𝟙"));        // mathematical digits are \p{N}, one by one
        Assert.Equal(["emoji", " 🚀🎈", " test"], Split("emoji 🚀🎈 test"));
    }

    [Fact]
    public void The_pieces_cover_the_text_without_gaps()
    {
        const string Text = "Mixed: 'S, ﬁ ½ \u00a0\u3000 ٣ 𝟘 😀! \r\n\t end  ";
        var pieces = Qwen2PreTokenizer.Split(Text);

        Assert.Equal(0, pieces[0].Offset);
        for (int i = 1; i < pieces.Count; i++)
        {
            Assert.Equal(pieces[i - 1].Offset + pieces[i - 1].Length, pieces[i].Offset);
        }

        Assert.Equal(Text.Length, pieces[^1].Offset + pieces[^1].Length);
    }
}

public sealed class When_text_is_normalized_to_NFC
{
    [Theory]
    [InlineData("cafe\u0301", "caf\u00e9")]                   // e + combining acute → é
    [InlineData("A\u030A", "\u00c5")]                         // A + ring → Å
    [InlineData("\u212B", "\u00c5")]                          // ANGSTROM SIGN → Å (singleton decomposition)
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]              // Hangul jamo L V T → 각
    [InlineData("q\u0307\u0323", "q\u0323\u0307")]            // marks reordered by combining class, nothing composes
    [InlineData("\u1E0B\u0323", "\u1E0D\u0307")]              // ḋ + dot below → ḍ + dot above
    [InlineData("e\u0301\u0301", "\u00e9\u0301")]             // the second acute is blocked by the first
    [InlineData("plain ASCII", "plain ASCII")]
    [InlineData("東京 😀 ﬁ", "東京 😀 ﬁ")]                   // compatibility characters stay (that would be NFKC)
    public void It_matches_Unicode_canonical_composition(string text, string expected)
    {
        Assert.Equal(expected, UnicodeNormalizer.Nfc(text));
    }
}

public sealed class When_a_tiny_vocabulary_is_merged
{
    // Byte-level spellings: Ġ is the space. Ids are arbitrary.
    private static readonly Dictionary<string, int> s_vocab = new()
    {
        ["a"] = 0, ["b"] = 1, ["c"] = 2, ["Ġ"] = 3, ["ab"] = 4, ["bc"] = 5, ["abc"] = 6, ["Ġab"] = 7,
    };

    [Fact]
    public void Merges_apply_in_rank_order_until_none_applies()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.Create(s_vocab, [("a", "b"), ("ab", "c"), ("Ġ", "ab")]);

        Assert.Equal([6], tokenizer.Encode("abc"));             // a b c → ab c → abc
        Assert.Equal([4, 7], tokenizer.Encode("ab ab"));        // "ab" + " ab" (Ġ ab → Ġab)
        Assert.Equal([1, 0], tokenizer.Encode("ba"));           // no merge for (b, a)
    }

    [Fact]
    public void A_higher_ranked_merge_wins_over_an_earlier_position()
    {
        // (b, c) outranks (a, b), so "abc" becomes a + bc although "ab" comes first in the text.
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.Create(s_vocab, [("b", "c"), ("a", "b"), ("ab", "c")]);

        Assert.Equal([0, 5], tokenizer.Encode("abc"));
    }

    [Fact]
    public void Empty_text_encodes_to_no_ids()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.Create(s_vocab, [("a", "b")]);

        Assert.Empty(tokenizer.Encode(""));
    }
}

public sealed class When_text_holds_added_tokens
{
    private static Qwen2Tokenizer Tokenizer()
    {
        // Every byte, so any text encodes; then the added tokens after them.
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => ByteLevel.ToChar((byte)b).ToString(), b => b);
        return Qwen2Tokenizer.Create(vocab, [],
        [
            new AddedToken(256, "<|im_start|>") { Special = true },
            new AddedToken(257, "<|im_end|>") { Special = true },
            new AddedToken(258, "<image>") { Special = true },
            new AddedToken(259, "<image><video>"),
        ]);
    }

    [Fact]
    public void They_are_matched_whole_and_never_split()
    {
        Qwen2Tokenizer tokenizer = Tokenizer();

        Assert.Equal([256, 'u', 's', 'e', 'r', 257], tokenizer.Encode("<|im_start|>user<|im_end|>"));
        Assert.Equal([' ', 258, '?'], tokenizer.Encode(" <image>?"));
    }

    [Fact]
    public void The_longest_token_at_the_leftmost_position_wins()
    {
        Assert.Equal([259, 258], Tokenizer().Encode("<image><video><image>"));
    }

    [Fact]
    public void A_partial_token_is_ordinary_text()
    {
        Assert.Equal("<|im_sta".Select(c => (int)c), Tokenizer().Encode("<|im_sta"));
    }

    [Fact]
    public void Decoding_keeps_or_skips_special_tokens_on_request()
    {
        Qwen2Tokenizer tokenizer = Tokenizer();
        int[] ids = tokenizer.Encode("<|im_start|>user\nHi <image><image><video><|im_end|>");

        Assert.Equal("<|im_start|>user\nHi <image><image><video><|im_end|>", tokenizer.Decode(ids));
        Assert.Equal("user\nHi <image><video>", tokenizer.Decode(ids, skipSpecialTokens: true)); // 259 is not special
        Assert.True(tokenizer.IsSpecialToken(256));
        Assert.False(tokenizer.IsSpecialToken(259));
    }

    [Fact]
    public void Invalid_UTF8_decodes_to_replacement_characters_and_unknown_ids_are_skipped()
    {
        Qwen2Tokenizer tokenizer = Tokenizer();

        Assert.Equal("a\uFFFDb", tokenizer.Decode([(int)'a', 0xF0, 0x9F, (int)'b']));   // a truncated 4-byte sequence
        Assert.Equal("ab", tokenizer.Decode([(int)'a', 10_000, (int)'b']));
    }
}

public sealed class When_ids_are_decoded_incrementally
{
    private static Qwen2Tokenizer ByteTokenizer() =>
        Qwen2Tokenizer.Create(Enumerable.Range(0, 256).ToDictionary(b => ByteLevel.ToChar((byte)b).ToString(), b => b), [],
            [new AddedToken(256, "<|im_end|>") { Special = true }]);

    [Fact]
    public void An_emoji_split_over_four_byte_tokens_appears_with_the_fourth()
    {
        IncrementalDecoder stream = ByteTokenizer().CreateIncrementalDecoder();

        Assert.Equal("A", stream.Append('A'));
        Assert.Equal("", stream.Append(0xF0));   // 🚀 = F0 9F 9A 80
        Assert.Equal("", stream.Append(0x9F));
        Assert.Equal("", stream.Append(0x9A));
        Assert.Equal("🚀", stream.Append(0x80));
        Assert.Equal("!", stream.Append('!'));
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void Special_tokens_are_kept_or_skipped_like_Decode()
    {
        Assert.Equal("<|im_end|>", ByteTokenizer().CreateIncrementalDecoder().Append(256));
        Assert.Equal("", ByteTokenizer().CreateIncrementalDecoder(skipSpecialTokens: true).Append(256));
    }

    [Fact]
    public void Bytes_that_never_complete_a_character_flush_as_a_replacement_character()
    {
        IncrementalDecoder stream = ByteTokenizer().CreateIncrementalDecoder();

        Assert.Equal("", stream.Append(0xE6));   // first byte of a 3-byte character
        Assert.Equal("\uFFFDx", stream.Append('x'));
        Assert.Equal("", stream.Append(0xE6));
        Assert.Equal("\uFFFD", stream.Flush());
    }
}
