using System.Text.Json;

namespace VideoLong.Language.Tokenization;

/// <summary>What a Qwen2 tokenizer is built from, however it was stored.</summary>
internal sealed class TokenizerDefinition
{
    public required Dictionary<string, int> Vocabulary { get; init; }

    public required List<(string Left, string Right)> Merges { get; init; }

    public required List<AddedToken> AddedTokens { get; init; }

    /// <summary>Where the vocabulary and the merges came from, for error messages.</summary>
    public required string VocabularySource { get; init; }

    public required string MergesSource { get; init; }

    /// <summary>Apply NFC before pre-tokenization (Qwen2's normalizer).</summary>
    public bool Nfc { get; init; } = true;

    /// <summary>HF BPE <c>ignore_merges</c>: a piece that is itself in the vocabulary is not split.</summary>
    public bool IgnoreMerges { get; init; }

    public string? UnknownToken { get; init; }

    public bool FuseUnknown { get; init; }

    /// <summary>tokenizer_config.json's <c>clean_up_tokenization_spaces</c> (false for Qwen2).</summary>
    public bool CleanUpTokenizationSpaces { get; init; }

    /// <summary>tokenizer_config.json's <c>chat_template</c>, kept for reference (not executed).</summary>
    public string? ChatTemplate { get; init; }
}

/// <summary>
/// Reads HF tokenizer files strictly: tokenizer.json (HF tokenizers format), or vocab.json + merges.txt, each with an
/// optional tokenizer_config.json. Every problem becomes a <see cref="TokenizerFileException"/> that names the file,
/// the key or line, and what is expected.
/// </summary>
internal static class TokenizerFiles
{
    public const string TokenizerJson = "tokenizer.json";
    public const string VocabJson = "vocab.json";
    public const string MergesTxt = "merges.txt";
    public const string TokenizerConfigJson = "tokenizer_config.json";

    public static TokenizerDefinition ReadTokenizerJson(string path, string? configPath)
    {
        using JsonDocument doc = ParseJson(path, "an HF tokenizers file with model (BPE: vocab, merges), added_tokens, normalizer, pre_tokenizer and decoder");
        JsonElement root = RequireObject(doc.RootElement, path, "the top level");
        JsonElement model = RequireProperty(root, "model", path, "model", JsonValueKind.Object);

        string? type = OptionalString(model, "type", path, "model.type");
        if (type is not null && type != "BPE")
        {
            throw Error(path, $"model.type is \"{type}\"; expected \"BPE\" (Qwen2's byte-level BPE).");
        }

        var vocab = ReadVocabulary(RequireProperty(model, "vocab", path, "model.vocab", JsonValueKind.Object), path, "model.vocab");
        var merges = ReadJsonMerges(RequireProperty(model, "merges", path, "model.merges", JsonValueKind.Array), path);

        if (OptionalBool(model, "byte_fallback", path, "model.byte_fallback"))
        {
            throw Error(path, "model.byte_fallback is true; expected false (byte-level BPE needs no byte fallback).");
        }

        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind != JsonValueKind.Null)
        {
            throw Error(path, $"model.dropout is {dropout.GetRawText()}; expected null (BPE dropout is for training only).");
        }

        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            string? value = OptionalString(model, affix, path, "model." + affix);
            if (!string.IsNullOrEmpty(value))
            {
                throw Error(path, $"model.{affix} is \"{value}\"; expected null (byte-level BPE uses no subword affixes).");
            }
        }

        bool nfc = ReadNormalizer(root, path);
        CheckPreTokenizer(root, path);
        CheckDecoder(root, path);

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedTokens) && addedTokens.ValueKind != JsonValueKind.Null)
        {
            if (addedTokens.ValueKind != JsonValueKind.Array)
            {
                throw Error(path, $"added_tokens is {Describe(addedTokens)}; expected an array of {{id, content, special, ...}}.");
            }

            int index = 0;
            foreach (JsonElement entry in addedTokens.EnumerateArray())
            {
                string where = $"added_tokens[{index++}]";
                JsonElement e = RequireObject(entry, path, where);
                int id = RequireInt(e, "id", path, where + ".id");
                added.Add(ReadAddedToken(e, id, path, where));
            }
        }

        Config config = configPath is null ? Config.Empty : ReadConfig(configPath);
        MergeAddedTokens(added, config, vocab);

        return new TokenizerDefinition
        {
            Vocabulary = vocab,
            Merges = merges,
            AddedTokens = added,
            VocabularySource = path,
            MergesSource = path,
            Nfc = nfc,
            IgnoreMerges = OptionalBool(model, "ignore_merges", path, "model.ignore_merges"),
            UnknownToken = OptionalString(model, "unk_token", path, "model.unk_token"),
            FuseUnknown = OptionalBool(model, "fuse_unk", path, "model.fuse_unk"),
            CleanUpTokenizationSpaces = config.CleanUpTokenizationSpaces,
            ChatTemplate = config.ChatTemplate,
        };
    }

    public static TokenizerDefinition ReadVocabAndMerges(string vocabPath, string mergesPath, string? configPath)
    {
        Dictionary<string, int> vocab;
        using (JsonDocument doc = ParseJson(vocabPath, "a JSON object mapping each byte-level token to its id"))
        {
            vocab = ReadVocabulary(RequireObject(doc.RootElement, vocabPath, "the top level"), vocabPath, "the vocabulary");
        }

        var merges = ReadMergesTxt(mergesPath);
        Config config = configPath is null ? Config.Empty : ReadConfig(configPath);
        var added = new List<AddedToken>();
        MergeAddedTokens(added, config, vocab);

        // Qwen2's own pipeline (transformers' Qwen2Tokenizer): NFC, Qwen2's regex, byte level, BPE.
        return new TokenizerDefinition
        {
            Vocabulary = vocab,
            Merges = merges,
            AddedTokens = added,
            VocabularySource = vocabPath,
            MergesSource = mergesPath,
            Nfc = true,
            CleanUpTokenizationSpaces = config.CleanUpTokenizationSpaces,
            ChatTemplate = config.ChatTemplate,
        };
    }

    private sealed record Config(List<AddedToken> AddedTokens, List<string> SpecialTokenNames, bool CleanUpTokenizationSpaces, string? ChatTemplate)
    {
        public static Config Empty { get; } = new([], [], false, null);
    }

    // transformers' named special tokens, in the order it registers them, then the extra ones.
    private static readonly string[] s_namedSpecialTokens = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];
    private static readonly string[] s_extraSpecialTokens = ["additional_special_tokens", "extra_special_tokens"];

    private static Config ReadConfig(string path)
    {
        using JsonDocument doc = ParseJson(path, "a JSON object with added_tokens_decoder, clean_up_tokenization_spaces and chat_template");
        JsonElement root = RequireObject(doc.RootElement, path, "the top level");

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out JsonElement decoder) && decoder.ValueKind != JsonValueKind.Null)
        {
            if (decoder.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, $"added_tokens_decoder is {Describe(decoder)}; expected an object {{\"id\": {{content, special, ...}}}}.");
            }

            foreach (JsonProperty p in decoder.EnumerateObject())
            {
                string where = $"added_tokens_decoder[\"{p.Name}\"]";
                if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                {
                    throw Error(path, $"{where}: the key must be a token id (a non-negative integer).");
                }

                added.Add(ReadAddedToken(RequireObject(p.Value, path, where), id, path, where));
            }
        }

        var names = new List<string>();
        foreach (string key in s_namedSpecialTokens)
        {
            if (root.TryGetProperty(key, out JsonElement value) && value.ValueKind != JsonValueKind.Null)
            {
                names.Add(TokenText(value, path, key));
            }
        }

        foreach (string key in s_extraSpecialTokens)
        {
            if (!root.TryGetProperty(key, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (value.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                names.AddRange(value.EnumerateArray().Select(v => TokenText(v, path, $"{key}[{i++}]")));
            }
            else if (value.ValueKind == JsonValueKind.Object)
            {
                names.AddRange(value.EnumerateObject().Select(p => TokenText(p.Value, path, $"{key}.{p.Name}")));
            }
            else
            {
                throw Error(path, $"{key} is {Describe(value)}; expected a list of tokens.");
            }
        }

        string? template = root.TryGetProperty("chat_template", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return new Config(added, names, OptionalBool(root, "clean_up_tokenization_spaces", path, "clean_up_tokenization_spaces"), template);
    }

    /// <summary>A special token in tokenizer_config.json: its text, or an AddedToken object with "content".</summary>
    private static string TokenText(JsonElement value, string path, string where) => value.ValueKind switch
    {
        JsonValueKind.String when value.GetString()!.Length > 0 => value.GetString()!,
        JsonValueKind.Object => RequireProperty(value, "content", path, where + ".content", JsonValueKind.String).GetString()!,
        _ => throw Error(path, $"{where} is {Describe(value)}; expected a token (a non-empty string or {{\"content\": ...}})."),
    };

    /// <summary>
    /// Adds the tokens tokenizer_config.json declares that the list lacks, as transformers does on load: entries of
    /// <c>added_tokens_decoder</c> with their ids, then named and extra special tokens (<c>eos_token</c>, …,
    /// <c>extra_special_tokens</c>) as special tokens, with their vocabulary id or, when the vocabulary lacks them,
    /// new ids after the last one in the order they are declared.
    /// </summary>
    private static void MergeAddedTokens(List<AddedToken> added, Config config, Dictionary<string, int> vocabulary)
    {
        var ids = added.Select(a => a.Id).ToHashSet();
        added.AddRange(config.AddedTokens.Where(c => ids.Add(c.Id)));

        var contents = added.Select(a => a.Content).ToHashSet(StringComparer.Ordinal);
        int next = Math.Max(vocabulary.Values.Max(), ids.Count == 0 ? -1 : ids.Max()) + 1;
        foreach (string name in config.SpecialTokenNames)
        {
            if (contents.Add(name))
            {
                int id = vocabulary.TryGetValue(name, out int known) ? known : next++;
                added.Add(new AddedToken(id, name) { Special = true });
            }
        }
    }

    private static AddedToken ReadAddedToken(JsonElement e, int id, string path, string where)
    {
        string content = RequireProperty(e, "content", path, where + ".content", JsonValueKind.String).GetString()!;
        if (content.Length == 0)
        {
            throw Error(path, $"{where}.content is empty; expected the token's text.");
        }

        return new AddedToken(id, content)
        {
            Special = OptionalBool(e, "special", path, where + ".special"),
            SingleWord = OptionalBool(e, "single_word", path, where + ".single_word"),
            LStrip = OptionalBool(e, "lstrip", path, where + ".lstrip"),
            RStrip = OptionalBool(e, "rstrip", path, where + ".rstrip"),
            Normalized = OptionalBool(e, "normalized", path, where + ".normalized"),
        };
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement vocab, string path, string where)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Error(path, $"{where}[\"{p.Name}\"] is {Describe(p.Value)}; expected a token id (a non-negative integer).");
            }

            map[p.Name] = id;
        }

        if (map.Count == 0)
        {
            throw Error(path, $"{where} is empty; expected the byte-level BPE vocabulary (token → id).");
        }

        return map;
    }

    private static List<(string, string)> ReadJsonMerges(JsonElement merges, string path)
    {
        var list = new List<(string, string)>();
        int index = 0;
        foreach (JsonElement m in merges.EnumerateArray())
        {
            string where = $"model.merges[{index++}]";
            if (m.ValueKind == JsonValueKind.String)
            {
                list.Add(SplitMerge(m.GetString()!, path, where));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                list.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else
            {
                throw Error(path, $"{where} is {Describe(m)}; expected \"left right\" or a [left, right] pair of strings.");
            }
        }

        return list;
    }

    private static List<(string, string)> ReadMergesTxt(string path)
    {
        string[] lines = ReadAllLines(path);
        var list = new List<(string, string)>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            list.Add(SplitMerge(line, path, $"line {i + 1}"));
        }

        return list;
    }

    private static (string, string) SplitMerge(string merge, string path, string where)
    {
        string[] parts = merge.Split(' ');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw Error(path, $"{where} is \"{merge}\"; expected two tokens separated by one space.");
        }

        return (parts[0], parts[1]);
    }

    /// <summary>null, NFC, or a Sequence of those; anything else would change the ids.</summary>
    private static bool ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        bool nfc = false;
        Visit(normalizer, "normalizer");
        return nfc;

        void Visit(JsonElement n, string where)
        {
            string? type = n.ValueKind == JsonValueKind.Object ? OptionalString(n, "type", path, where + ".type") : null;
            if (type == "NFC")
            {
                nfc = true;
            }
            else if (type == "Sequence" && n.TryGetProperty("normalizers", out JsonElement items) && items.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement item in items.EnumerateArray())
                {
                    Visit(item, $"{where}.normalizers[{i++}]");
                }
            }
            else
            {
                throw Error(path, $"{where} is {(type is null ? Describe(n) : $"\"{type}\"")}; expected null or NFC (Qwen2's normalizer).");
            }
        }
    }

    /// <summary>Qwen2's: Sequence[Split(Qwen2 regex, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)].</summary>
    private static void CheckPreTokenizer(JsonElement root, string path)
    {
        const string Expected = "expected Qwen2's pre-tokenizer: Sequence[Split(Qwen2's regex, behavior Isolated), ByteLevel(add_prefix_space false, use_regex false)]";
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind != JsonValueKind.Object)
        {
            throw Error(path, $"pre_tokenizer is missing; {Expected}.");
        }

        List<JsonElement> steps = OptionalString(pre, "type", path, "pre_tokenizer.type") == "Sequence"
                                  && pre.TryGetProperty("pretokenizers", out JsonElement items) && items.ValueKind == JsonValueKind.Array
            ? [.. items.EnumerateArray()]
            : [pre];

        bool split = false, byteLevel = false;
        foreach (JsonElement step in steps)
        {
            string? type = step.ValueKind == JsonValueKind.Object ? OptionalString(step, "type", path, "pre_tokenizer.type") : null;
            if (type == "Split" && !split && !byteLevel)
            {
                string? pattern = step.TryGetProperty("pattern", out JsonElement p) && p.ValueKind == JsonValueKind.Object
                                  && p.TryGetProperty("Regex", out JsonElement r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                string? behavior = OptionalString(step, "behavior", path, "pre_tokenizer.behavior");
                if (pattern != Qwen2PreTokenizer.Pattern || behavior != "Isolated" || OptionalBool(step, "invert", path, "pre_tokenizer.invert"))
                {
                    throw Error(path, $"pre_tokenizer has Split(pattern {pattern ?? "(none)"}, behavior {behavior ?? "(none)"}); {Expected}.");
                }

                split = true;
            }
            else if (type == "ByteLevel" && split && !byteLevel)
            {
                if (OptionalBool(step, "add_prefix_space", path, "pre_tokenizer.add_prefix_space")
                    || (step.TryGetProperty("use_regex", out JsonElement useRegex) && useRegex.ValueKind != JsonValueKind.False))
                {
                    throw Error(path, $"pre_tokenizer has ByteLevel with add_prefix_space or use_regex on; {Expected}.");
                }

                byteLevel = true;
            }
            else
            {
                throw Error(path, $"pre_tokenizer has an unexpected step {(type is null ? Describe(step) : $"\"{type}\"")}; {Expected}.");
            }
        }

        if (!split || !byteLevel)
        {
            throw Error(path, $"pre_tokenizer lacks its {(split ? "ByteLevel" : "Split")} step; {Expected}.");
        }
    }

    private static void CheckDecoder(JsonElement root, string path)
    {
        string? type = root.TryGetProperty("decoder", out JsonElement decoder) && decoder.ValueKind == JsonValueKind.Object
            ? OptionalString(decoder, "type", path, "decoder.type")
            : null;
        if (type != "ByteLevel")
        {
            throw Error(path, $"decoder is {(type is null ? "missing" : $"\"{type}\"")}; expected ByteLevel.");
        }
    }

    private static JsonDocument ParseJson(string path, string expected)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Missing(path, expected, e);
        }

        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw Error(path, $"not valid JSON ({e.Message}); expected {expected}.", e);
        }
    }

    private static string[] ReadAllLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Missing(path, "one merge per line: two byte-level tokens separated by one space, highest priority first", e);
        }
    }

    private static TokenizerFileException Missing(string path, string expected, Exception e) =>
        e is FileNotFoundException or DirectoryNotFoundException
            ? new TokenizerFileException(path, $"{path} not found; expected {expected}.", e)
            : new TokenizerFileException(path, $"{path} cannot be read ({e.Message}); expected {expected}.", e);

    internal static TokenizerFileException Error(string path, string message, Exception? inner = null) =>
        new(path, $"{path}: {message}", inner);

    private static JsonElement RequireObject(JsonElement e, string path, string where) =>
        e.ValueKind == JsonValueKind.Object ? e : throw Error(path, $"{where} is {Describe(e)}; expected a JSON object.");

    private static JsonElement RequireProperty(JsonElement e, string name, string path, string where, JsonValueKind kind)
    {
        if (!e.TryGetProperty(name, out JsonElement value))
        {
            throw Error(path, $"{where} is missing; expected {Article(kind)}.");
        }

        return value.ValueKind == kind ? value : throw Error(path, $"{where} is {Describe(value)}; expected {Article(kind)}.");
    }

    private static int RequireInt(JsonElement e, string name, string path, string where)
    {
        JsonElement value = RequireProperty(e, name, path, where, JsonValueKind.Number);
        return value.TryGetInt32(out int i) && i >= 0 ? i : throw Error(path, $"{where} is {value.GetRawText()}; expected a token id (a non-negative integer).");
    }

    private static string? OptionalString(JsonElement e, string name, string path, string where)
    {
        if (!e.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(path, $"{where} is {Describe(value)}; expected a string.");
    }

    private static bool OptionalBool(JsonElement e, string name, string path, string where)
    {
        if (!e.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(path, $"{where} is {Describe(value)}; expected true or false."),
        };
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "a JSON object",
        JsonValueKind.Array => "a JSON array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => kind.ToString(),
    };

    private static string Describe(JsonElement e)
    {
        string raw = e.GetRawText();
        return e.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            _ => raw.Length > 40 ? raw[..40] + "…" : raw,
        };
    }
}
