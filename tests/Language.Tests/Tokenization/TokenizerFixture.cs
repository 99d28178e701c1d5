using System.Text.Json;
using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Tests.Tokenization;

/// <summary>
/// The reference tokenizer of tests/fixtures/reference/tokenizer (tools/reference/make_fixtures.py, transformers 5.17):
/// a 420-token byte-level BPE trained with Qwen2's pre-tokenizer and NFC, plus &lt;image&gt; and &lt;video&gt;; and
/// cases.json, the ids and texts transformers produced.
/// </summary>
internal static class TokenizerFixture
{
    private static readonly Lazy<Qwen2Tokenizer> s_fromTokenizerJson = new(() =>
        Qwen2Tokenizer.FromTokenizerJson(File("tokenizer.json"), File("tokenizer_config.json")));

    private static readonly Lazy<Qwen2Tokenizer> s_fromVocabAndMerges = new(() =>
        Qwen2Tokenizer.FromVocabAndMerges(File("vocab.json"), File("merges.txt"), File("tokenizer_config.json")));

    private static readonly JsonSerializerOptions s_json = new() { PropertyNameCaseInsensitive = true };

    private static readonly Lazy<Cases> s_cases = new(() =>
        JsonSerializer.Deserialize<Cases>(System.IO.File.ReadAllText(File("cases.json")), s_json)!);

    public static string Dir => Fixtures.Dir("tokenizer");

    public static string File(string name) => Path.Combine(Dir, name);

    /// <summary>Both loading routes, by name, for theories.</summary>
    public static Qwen2Tokenizer Load(string route) => route switch
    {
        "tokenizer.json" => s_fromTokenizerJson.Value,
        "vocab.json+merges.txt" => s_fromVocabAndMerges.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(route), route, null),
    };

    public static TheoryData<string> Routes => new() { "tokenizer.json", "vocab.json+merges.txt" };

    public static Cases All => s_cases.Value;

    public sealed record Cases(List<EncodeCase> Encode, List<DecodeCase> Decode, List<ChatCase> Chat, string Transformers);

    public sealed record EncodeCase(string Text, int[] Ids);

    public sealed record DecodeCase(int[] Ids, string Text, [property: System.Text.Json.Serialization.JsonPropertyName("skip_special_tokens")] bool SkipSpecialTokens);

    public sealed record ChatCase(List<Message> Messages, [property: System.Text.Json.Serialization.JsonPropertyName("add_generation_prompt")] bool AddGenerationPrompt, string Text, int[] Ids);

    public sealed record Message(string Role, string Content);

    /// <summary>"'Hello' → [1, 2]" with escapes, for failure messages.</summary>
    public static string Show(string text) => JsonSerializer.Serialize(text);
}
