using System.Text;
using Microsoft.ML.Tokenizers;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Qwen2's tokenizer (also LLaVA-OneVision-Qwen2's and VideoChat-Flash's): byte-level BPE with Qwen2's pre-tokenizer,
/// giving the same ids as HF transformers' <c>Qwen2TokenizerFast</c> (<c>encode(text, add_special_tokens=False)</c>;
/// Qwen2 adds no BOS/EOS anyway) and the same text from <c>decode</c>.
/// <para>The pipeline, in HF tokenizers' order:</para>
/// <list type="number">
/// <item>added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;image&gt;</c>, …) are matched whole in the raw text and never split;</item>
/// <item>the rest is normalized to NFC (<see cref="UnicodeNormalizer"/>);</item>
/// <item>split by Qwen2's regex (<see cref="Qwen2PreTokenizer"/>, code-point exact);</item>
/// <item>each piece is written as UTF-8 bytes in GPT-2's byte-to-unicode alphabet and merged by BPE rank — this step is
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (<c>ByteLevel = true</c>), a port of HF's merge loop.</item>
/// </list>
/// Decoding maps tokens back to bytes and reads them as UTF-8, writing U+FFFD for invalid sequences, as HF does.
/// Instances are immutable and safe to share between threads.
/// </summary>
public sealed class Qwen2Tokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocabulary;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly bool _nfc;
    private readonly bool _ignoreMerges;
    private readonly bool _cleanUpTokenizationSpaces;

    private Qwen2Tokenizer(TokenizerDefinition definition)
    {
        string vocabSource = definition.VocabularySource, mergesSource = definition.MergesSource;
        _vocabulary = definition.Vocabulary;
        _idToToken = new Dictionary<int, string>(_vocabulary.Count);
        foreach ((string token, int id) in _vocabulary)
        {
            if (!_idToToken.TryAdd(id, token))
            {
                throw TokenizerFiles.Error(vocabSource, $"the vocabulary gives id {id} to both \"{_idToToken[id]}\" and \"{token}\"; expected one token per id.");
            }
        }

        // Merges as Microsoft.ML.Tokenizers takes them ("left right", rank = position). A repeated pair takes its last
        // rank, as in HF's merge map, where later entries overwrite earlier ones.
        var merges = new List<string?>(definition.Merges.Count);
        var seen = new Dictionary<(string, string), int>();
        foreach ((string left, string right) in definition.Merges)
        {
            string? missing = !_vocabulary.ContainsKey(left) ? left : !_vocabulary.ContainsKey(right) ? right
                : !_vocabulary.ContainsKey(left + right) ? left + right : null;
            if (missing is not null)
            {
                throw TokenizerFiles.Error(mergesSource, $"merge \"{left} {right}\" (rank {merges.Count}) uses \"{missing}\", which is not in the vocabulary; expected merges of vocabulary tokens into vocabulary tokens.");
            }

            if (left.Contains(' ', StringComparison.Ordinal) || right.Contains(' ', StringComparison.Ordinal))
            {
                throw TokenizerFiles.Error(mergesSource, $"merge \"{left} {right}\" (rank {merges.Count}) has a token with a space; byte-level tokens spell a space as \"Ġ\".");
            }

            if (seen.Remove((left, right), out int earlier))
            {
                merges[earlier] = null;
            }

            seen[(left, right)] = merges.Count;
            merges.Add(left + " " + right);
        }

        if (definition.UnknownToken is { } unk && !_vocabulary.ContainsKey(unk))
        {
            throw TokenizerFiles.Error(vocabSource, $"model.unk_token \"{unk}\" is not in the vocabulary; expected null or a vocabulary token.");
        }

        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(_vocabulary)
            {
                Merges = merges.OfType<string>(),
                ByteLevel = true,
                UnknownToken = definition.UnknownToken,
                FuseUnknownTokens = definition.FuseUnknown,
            });
        }
        catch (InvalidOperationException e)
        {
            throw TokenizerFiles.Error(mergesSource, $"Microsoft.ML.Tokenizers refused the vocabulary or merges ({e.Message}).", e);
        }

        _addedById = [];
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (AddedToken token in definition.AddedTokens)
        {
            _addedById[token.Id] = token;
            _addedByContent[token.Content] = token;
        }

        AddedTokens = [.. _addedById.Values.OrderBy(t => t.Id)];
        _rawMatcher = new AddedTokenMatcher(AddedTokens.Where(t => !t.Normalized));
        _normalizedMatcher = new AddedTokenMatcher(AddedTokens.Where(t => t.Normalized));
        _nfc = definition.Nfc;
        _ignoreMerges = definition.IgnoreMerges;
        _cleanUpTokenizationSpaces = definition.CleanUpTokenizationSpaces;
        ChatTemplateSource = definition.ChatTemplate;
        VocabularySize = _vocabulary.Count + _addedByContent.Keys.Count(c => !_vocabulary.ContainsKey(c));
    }

    /// <summary>
    /// Loads the tokenizer in <paramref name="directory"/>: tokenizer.json when present, otherwise vocab.json +
    /// merges.txt; tokenizer_config.json (optional) adds its <c>added_tokens_decoder</c>, its special tokens
    /// (<c>eos_token</c>, <c>extra_special_tokens</c>, …) and <c>clean_up_tokenization_spaces</c>.
    /// </summary>
    /// <exception cref="TokenizerFileException">The folder has no tokenizer, or a file is malformed.</exception>
    public static Qwen2Tokenizer FromPretrained(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (!Directory.Exists(directory))
        {
            throw new TokenizerFileException(directory, $"{directory}: folder not found; expected a model folder with {TokenizerFiles.TokenizerJson}, or {TokenizerFiles.VocabJson} and {TokenizerFiles.MergesTxt}.");
        }

        string config = Path.Combine(directory, TokenizerFiles.TokenizerConfigJson);
        string? configPath = File.Exists(config) ? config : null;
        string tokenizerJson = Path.Combine(directory, TokenizerFiles.TokenizerJson);
        string vocab = Path.Combine(directory, TokenizerFiles.VocabJson);
        string merges = Path.Combine(directory, TokenizerFiles.MergesTxt);
        Qwen2Tokenizer? tokenizer = File.Exists(tokenizerJson) ? FromTokenizerJson(tokenizerJson, configPath)
            : File.Exists(vocab) || File.Exists(merges) ? FromVocabAndMerges(vocab, merges, configPath)
            : null;
        if (tokenizer is not null)
        {
            // transformers 5 writes the template to chat_template.jinja rather than into tokenizer_config.json.
            string jinja = Path.Combine(directory, "chat_template.jinja");
            if (tokenizer.ChatTemplateSource is null && File.Exists(jinja))
            {
                tokenizer.ChatTemplateSource = File.ReadAllText(jinja);
            }

            return tokenizer;
        }

        throw new TokenizerFileException(directory, $"{directory}: no tokenizer found; expected {TokenizerFiles.TokenizerJson}, or {TokenizerFiles.VocabJson} and {TokenizerFiles.MergesTxt}.");
    }

    /// <summary>Loads an HF tokenizers file (model.vocab, model.merges, added_tokens, normalizer, pre_tokenizer).</summary>
    /// <exception cref="TokenizerFileException">A file is missing or malformed, or it describes another tokenizer.</exception>
    public static Qwen2Tokenizer FromTokenizerJson(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenizerJsonPath);
        return new Qwen2Tokenizer(TokenizerFiles.ReadTokenizerJson(tokenizerJsonPath, tokenizerConfigPath));
    }

    /// <summary>
    /// Loads vocab.json + merges.txt with Qwen2's pipeline (NFC, Qwen2's regex, byte level); the added tokens come
    /// from tokenizer_config.json: its <c>added_tokens_decoder</c> (with ids), and its named and extra special tokens
    /// (vocabulary ids, or new ids after the vocabulary in the order declared, as transformers assigns them).
    /// </summary>
    /// <exception cref="TokenizerFileException">A file is missing or malformed.</exception>
    public static Qwen2Tokenizer FromVocabAndMerges(string vocabJsonPath, string mergesTxtPath, string? tokenizerConfigPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(vocabJsonPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(mergesTxtPath);
        return new Qwen2Tokenizer(TokenizerFiles.ReadVocabAndMerges(vocabJsonPath, mergesTxtPath, tokenizerConfigPath));
    }

    /// <summary>
    /// Builds a tokenizer from memory: a byte-level vocabulary, merges in priority order (highest first), and added
    /// tokens. Normalization is NFC, as for Qwen2.
    /// </summary>
    public static Qwen2Tokenizer Create(IReadOnlyDictionary<string, int> vocabulary, IEnumerable<(string Left, string Right)> merges,
        IEnumerable<AddedToken>? addedTokens = null)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(merges);
        if (vocabulary.Count == 0)
        {
            throw new ArgumentException("The vocabulary is empty.", nameof(vocabulary));
        }

        var definition = new TokenizerDefinition
        {
            Vocabulary = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal),
            Merges = [.. merges],
            AddedTokens = [.. addedTokens ?? []],
            VocabularySource = "(vocabulary)",
            MergesSource = "(merges)",
        };
        return new Qwen2Tokenizer(definition);
    }

    /// <summary>
    /// Number of distinct tokens, added tokens included (HF <c>len(tokenizer)</c>). The model's embedding table may
    /// be larger (Qwen2-7B: 151,665 tokens, 152,064 rows).
    /// </summary>
    public int VocabularySize { get; }

    /// <summary>The added tokens (special or not), by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>
    /// The Jinja chat template stored with the tokenizer (tokenizer_config.json's <c>chat_template</c>, or
    /// chat_template.jinja), for reference only: <see cref="ChatTemplate"/> renders Qwen2's template in C#.
    /// </summary>
    public string? ChatTemplateSource { get; private set; }

    /// <summary>Encodes text to ids. Added tokens in the text become their ids; empty text gives no ids.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        text = ReplaceLoneSurrogates(text);
        var ids = new List<int>();
        foreach ((int start, int end, AddedToken? token) in _rawMatcher.Split(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }

            string segment = text[start..end];
            if (_nfc)
            {
                segment = UnicodeNormalizer.Nfc(segment);
            }

            if (_normalizedMatcher.IsEmpty)
            {
                EncodeOrdinary(segment, ids);
                continue;
            }

            foreach ((int s, int e, AddedToken? t) in _normalizedMatcher.Split(segment))
            {
                if (t is not null)
                {
                    ids.Add(t.Id);
                }
                else
                {
                    EncodeOrdinary(segment[s..e], ids);
                }
            }
        }

        return [.. ids];
    }

    /// <summary>
    /// Decodes ids to text. Added tokens are written as their text, or left out when special and
    /// <paramref name="skipSpecialTokens"/> is set. Ids that are not in the vocabulary are skipped, as HF does.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            AppendTokenBytes(id, skipSpecialTokens, bytes);
        }

        string text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
        return _cleanUpTokenizationSpaces ? CleanUpTokenizationSpaces(text) : text;
    }

    /// <summary>
    /// A decoder for streaming generation: feed ids one at a time and get text as soon as whole characters are
    /// available (an emoji spread over four byte tokens appears with the fourth).
    /// </summary>
    public IncrementalDecoder CreateIncrementalDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>The id of a token (vocabulary spelling, e.g. "Ġthe", or an added token's text), or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_addedByContent.TryGetValue(token, out AddedToken? added))
        {
            return added.Id;
        }

        return _vocabulary.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>The token an id stands for (vocabulary spelling, e.g. "Ġthe"), or null when there is none.</summary>
    public string? IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out AddedToken? added))
        {
            return added.Content;
        }

        return _idToToken.TryGetValue(id, out string? token) ? token : null;
    }

    /// <summary>Whether the id is a special added token (dropped when decoding with skipSpecialTokens).</summary>
    public bool IsSpecialToken(int id) => _addedById.TryGetValue(id, out AddedToken? t) && t.Special;

    internal void AppendTokenBytes(int id, bool skipSpecialTokens, List<byte> bytes)
    {
        string? token = IdToToken(id);
        if (token is null || (skipSpecialTokens && _addedByContent.TryGetValue(token, out AddedToken? added) && added.Special))
        {
            return;
        }

        ByteLevel.AppendBytes(token, bytes);
    }

    private void EncodeOrdinary(string text, List<int> ids)
    {
        foreach ((int offset, int length) in Qwen2PreTokenizer.Split(text))
        {
            ReadOnlySpan<char> piece = text.AsSpan(offset, length);
            if (_ignoreMerges)
            {
                if (_vocabulary.TryGetValue(ByteLevel.Encode(Encoding.UTF8.GetBytes(piece.ToString())), out int whole))
                {
                    ids.Add(whole);
                    continue;
                }
            }

            ids.AddRange(_bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false));
        }
    }

    /// <summary>A lone surrogate is not Unicode text; it is read as U+FFFD (HF cannot receive one at all).</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        Span<char> buffer = stackalloc char[2];
        foreach (Rune rune in text.EnumerateRunes()) // yields U+FFFD for a lone surrogate
        {
            sb.Append(buffer[..rune.EncodeToUtf16(buffer)]);
        }

        return sb.ToString();
    }

    /// <summary>transformers' <c>clean_up_tokenization</c> (used only when tokenizer_config.json asks for it).</summary>
    private static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);
}
