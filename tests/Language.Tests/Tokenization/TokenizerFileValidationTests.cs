using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Tests.Tokenization;

public sealed class When_tokenizer_files_are_missing_or_malformed : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("videolong-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static string TokenizerJson(string model = """{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}""",
        string normalizer = """{"type": "NFC"}""", string pattern = Qwen2PreTokenizer.Pattern) => $$"""
        {
          "added_tokens": [{"id": 3, "content": "<|im_end|>", "special": true}],
          "normalizer": {{normalizer}},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": {{System.Text.Json.JsonSerializer.Serialize(pattern)}}}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
          "decoder": {"type": "ByteLevel"},
          "model": {{model}}
        }
        """;

    private TokenizerFileException Refused(Action load)
    {
        var e = Assert.Throws<TokenizerFileException>(load);
        Assert.IsAssignableFrom<VideoLongException>(e);
        return e;
    }

    [Fact]
    public void A_well_formed_minimal_tokenizer_json_loads()
    {
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromTokenizerJson(Write("tokenizer.json", TokenizerJson()));

        Assert.Equal([2, 3], tokenizer.Encode("ab<|im_end|>"));
        Assert.Equal(4, tokenizer.VocabularySize);
    }

    [Theory]
    [InlineData(false, new[] { 0, 1 })]
    [InlineData(true, new[] { 2 })]
    public void Ignore_merges_takes_a_piece_that_is_in_the_vocabulary_whole(bool ignoreMerges, int[] ids)
    {
        string model = $$"""{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [], "ignore_merges": {{(ignoreMerges ? "true" : "false")}}}""";
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromTokenizerJson(Write("tokenizer.json", TokenizerJson(model)));

        Assert.Equal(ids, tokenizer.Encode("ab"));
    }

    [Fact]
    public void A_missing_folder_is_named_with_what_it_should_hold()
    {
        string missing = Path.Combine(_dir, "nope");
        var e = Refused(() => Qwen2Tokenizer.FromPretrained(missing));

        Assert.Equal(missing, e.Path);
        Assert.Contains("tokenizer.json, or vocab.json and merges.txt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_tokenizer_files_is_refused()
    {
        var e = Refused(() => Qwen2Tokenizer.FromPretrained(_dir));

        Assert.Contains("no tokenizer found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_vocabulary_without_merges_names_the_missing_merges_file()
    {
        Write("vocab.json", """{"a": 0}""");
        var e = Refused(() => Qwen2Tokenizer.FromPretrained(_dir));

        Assert.EndsWith("merges.txt", e.Path, StringComparison.Ordinal);
        Assert.Contains("merges.txt not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_JSON_is_refused_naming_the_file_and_its_expected_content()
    {
        string path = Write("tokenizer.json", "{ \"model\": ");
        var e = Refused(() => Qwen2Tokenizer.FromTokenizerJson(path));

        Assert.Equal(path, e.Path);
        Assert.StartsWith(path + ": not valid JSON", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected an HF tokenizers file", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type": "WordPiece", "vocab": {"a": 0}}""", "model.type is \"WordPiece\"; expected \"BPE\"")]
    [InlineData("""{"type": "BPE", "merges": []}""", "model.vocab is missing; expected a JSON object")]
    [InlineData("""{"type": "BPE", "vocab": {"a": "zero"}, "merges": []}""", "model.vocab[\"a\"] is \"zero\"; expected a token id")]
    [InlineData("""{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a  b"]}""", "model.merges[0] is \"a  b\"; expected two tokens separated by one space")]
    [InlineData("""{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}""", "merge \"a b\" (rank 0) uses \"ab\", which is not in the vocabulary")]
    [InlineData("""{"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}""", "gives id 0 to both")]
    [InlineData("""{"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}""", "model.byte_fallback is true")]
    public void A_model_that_is_not_Qwen2s_BPE_is_refused_naming_the_key(string model, string message)
    {
        string path = Write("tokenizer.json", TokenizerJson(model));
        var e = Refused(() => Qwen2Tokenizer.FromTokenizerJson(path));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_normalizer_is_refused()
    {
        string path = Write("tokenizer.json", TokenizerJson(normalizer: """{"type": "Lowercase"}"""));

        Assert.Contains("normalizer is \"Lowercase\"; expected null or NFC", Refused(() => Qwen2Tokenizer.FromTokenizerJson(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_pre_tokenizer_regex_is_refused()
    {
        // GPT-2's regex: a different split, hence different ids.
        string path = Write("tokenizer.json", TokenizerJson(pattern: @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"));

        Assert.Contains("expected Qwen2's pre-tokenizer", Refused(() => Qwen2Tokenizer.FromTokenizerJson(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_merges_txt_line_is_named_by_number()
    {
        string vocab = Write("vocab.json", """{"a": 0, "b": 1, "ab": 2}""");
        string merges = Write("merges.txt", "#version: 0.2\na b\nab\n");

        var e = Refused(() => Qwen2Tokenizer.FromVocabAndMerges(vocab, merges));
        Assert.Equal($"{merges}: line 3 is \"ab\"; expected two tokens separated by one space.", e.Message);
    }

    [Fact]
    public void A_vocab_json_that_is_not_an_object_is_refused()
    {
        string vocab = Write("vocab.json", """["a", "b"]""");
        string merges = Write("merges.txt", "");

        Assert.Contains("the top level is an array; expected a JSON object", Refused(() => Qwen2Tokenizer.FromVocabAndMerges(vocab, merges)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_added_tokens_decoder_is_refused_naming_the_entry()
    {
        string vocab = Write("vocab.json", """{"a": 0}""");
        string merges = Write("merges.txt", "");
        string config = Write("tokenizer_config.json", """{"added_tokens_decoder": {"5": {"special": true}}}""");

        var e = Refused(() => Qwen2Tokenizer.FromVocabAndMerges(vocab, merges, config));
        Assert.Equal(config, e.Path);
        Assert.Contains("added_tokens_decoder[\"5\"].content is missing; expected a string", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Special_tokens_named_in_tokenizer_config_get_vocabulary_ids_or_the_next_free_ones()
    {
        string vocab = Write("vocab.json", """{"a": 0, "<|endoftext|>": 1}""");
        string merges = Write("merges.txt", "#version: 0.2\n");
        string config = Write("tokenizer_config.json",
            """{"eos_token": "<|endoftext|>", "pad_token": {"content": "<pad>"}, "extra_special_tokens": ["<image>", "<video>"]}""");

        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromVocabAndMerges(vocab, merges, config);

        Assert.Equal([(1, "<|endoftext|>"), (2, "<pad>"), (3, "<image>"), (4, "<video>")], tokenizer.AddedTokens.Select(t => (t.Id, t.Content)));
        Assert.Equal([0, 3, 1], tokenizer.Encode("a<image><|endoftext|>"));
    }
}
