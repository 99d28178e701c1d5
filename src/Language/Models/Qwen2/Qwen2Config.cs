using System.Text.Json;
using System.Text.Json.Serialization;

namespace VideoLong.Language.Models.Qwen2;

/// <summary>
/// The architecture of a Qwen2 decoder, read from a checkpoint's <c>config.json</c>. Property names are the JSON keys;
/// defaults are those of transformers' <c>Qwen2Config</c>; unknown keys are ignored. <see cref="Load"/> validates the
/// values and names the offending key.
/// </summary>
public sealed record Qwen2Config
{
    private int? _numKeyValueHeads;
    private int? _headDim;

    [JsonPropertyName("hidden_size")]
    public required int HiddenSize { get; init; }

    [JsonPropertyName("intermediate_size")]
    public required int IntermediateSize { get; init; }

    [JsonPropertyName("num_hidden_layers")]
    public required int NumHiddenLayers { get; init; }

    [JsonPropertyName("num_attention_heads")]
    public required int NumAttentionHeads { get; init; }

    [JsonPropertyName("vocab_size")]
    public required int VocabSize { get; init; }

    /// <summary>Key/value heads for grouped-query attention; HF default: <see cref="NumAttentionHeads"/> (plain MHA).</summary>
    [JsonPropertyName("num_key_value_heads")]
    public int NumKeyValueHeads
    {
        get => _numKeyValueHeads ?? NumAttentionHeads;
        init => _numKeyValueHeads = value;
    }

    /// <summary>Per-head width; HF default (and the only value Qwen2 checkpoints use): hidden_size / num_attention_heads.</summary>
    [JsonPropertyName("head_dim")]
    public int HeadDim
    {
        get => _headDim ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0);
        init => _headDim = value;
    }

    [JsonPropertyName("rms_norm_eps")]
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>RoPE base. transformers 5 writes it as <c>rope_parameters.rope_theta</c>; <see cref="Load"/> reads both.</summary>
    [JsonPropertyName("rope_theta")]
    public double RopeTheta { get; init; } = 10000.0;

    [JsonPropertyName("max_position_embeddings")]
    public int MaxPositionEmbeddings { get; init; } = 32768;

    /// <summary><c>lm_head.weight</c> is <c>model.embed_tokens.weight</c> (Qwen2-0.5B/1.5B); HF default false.</summary>
    [JsonPropertyName("tie_word_embeddings")]
    public bool TieWordEmbeddings { get; init; }

    /// <summary>MLP activation; only <c>silu</c> (SwiGLU) is implemented.</summary>
    [JsonPropertyName("hidden_act")]
    public string HiddenAct { get; init; } = "silu";

    /// <summary>
    /// Whether q/k/v projections carry a bias. Not a key HF's Qwen2 reads (its q/k/v always have a bias and o_proj never
    /// does); kept so a config can say so explicitly.
    /// </summary>
    [JsonPropertyName("attention_bias")]
    public bool AttentionBias { get; init; } = true;

    /// <summary>Sliding-window attention is not implemented; a config that enables it is refused.</summary>
    [JsonPropertyName("use_sliding_window")]
    public bool UseSlidingWindow { get; init; }

    [JsonPropertyName("bos_token_id")]
    public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence ids; <c>config.json</c> may hold one id or a list.</summary>
    [JsonPropertyName("eos_token_id")]
    [JsonConverter(typeof(TokenIdListConverter))]
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    [JsonPropertyName("pad_token_id")]
    public int? PadTokenId { get; init; }

    /// <summary>The first end-of-sequence id, if any.</summary>
    [JsonIgnore]
    public int? EosTokenId => EosTokenIds.Count > 0 ? EosTokenIds[0] : null;

    /// <summary>Query heads per key/value head.</summary>
    [JsonIgnore]
    public int NumKeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    private static readonly string[] s_requiredKeys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"];

    private static readonly JsonSerializerOptions s_json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Reads and validates <c>config.json</c> (a file, or the checkpoint folder holding it).</summary>
    public static Qwen2Config Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file))
        {
            throw new VideoLongException($"Qwen2 config '{file}' does not exist. Hint: pass the checkpoint folder holding config.json.");
        }

        return Parse(File.ReadAllText(file), file);
    }

    /// <summary>Parses and validates the JSON text of a <c>config.json</c>; <paramref name="source"/> names it in errors.</summary>
    public static Qwen2Config Parse(string json, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new VideoLongException($"Qwen2 config '{source}' is not a JSON object.");
            }

            string[] missing = s_requiredKeys.Where(k => !root.TryGetProperty(k, out JsonElement v) || v.ValueKind == JsonValueKind.Null).ToArray();
            if (missing.Length > 0)
            {
                throw new VideoLongException($"Qwen2 config '{source}' lacks the required key{(missing.Length > 1 ? "s" : "")} {string.Join(", ", missing.Select(k => $"'{k}'"))}.");
            }

            Qwen2Config config = root.Deserialize<Qwen2Config>(s_json)
                ?? throw new VideoLongException($"Qwen2 config '{source}' is empty.");

            // transformers 5 moves the rope settings into rope_parameters (rope_theta, rope_type); older files use
            // rope_theta + rope_scaling. Only the default (unscaled) rotary embedding is implemented.
            if (root.TryGetProperty("rope_parameters", out JsonElement rope) && rope.ValueKind == JsonValueKind.Object)
            {
                if (rope.TryGetProperty("rope_theta", out JsonElement theta) && theta.ValueKind == JsonValueKind.Number)
                {
                    config = config with { RopeTheta = theta.GetDouble() };
                }

                RequireDefaultRope(rope, "rope_parameters", source);
            }

            if (root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind == JsonValueKind.Object)
            {
                RequireDefaultRope(scaling, "rope_scaling", source);
            }

            config.Validate(source);
            return config;
        }
        catch (JsonException e)
        {
            string where = e.Path is { Length: > 0 } p ? $" at {p}" : "";
            throw new VideoLongException($"Qwen2 config '{source}' is not valid{where}: {e.Message}", e);
        }
    }

    /// <summary>Checks the values against each other; throws a <see cref="VideoLongException"/> that names the key.</summary>
    public void Validate(string source = "config")
    {
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(VocabSize, "vocab_size");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (_headDim is null && HiddenSize % NumAttentionHeads != 0)
        {
            Fail("hidden_size", $"{HiddenSize} is not a multiple of num_attention_heads ({NumAttentionHeads})");
        }

        if (NumAttentionHeads % NumKeyValueHeads != 0)
        {
            Fail("num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads ({NumAttentionHeads})");
        }

        if (HeadDim % 2 != 0)
        {
            Fail("head_dim", $"{HeadDim} is odd; rotary embeddings need an even head width");
        }

        if (!(RmsNormEps > 0) || !double.IsFinite(RmsNormEps))
        {
            Fail("rms_norm_eps", $"{RmsNormEps} must be a finite number > 0");
        }

        if (!(RopeTheta > 1) || !double.IsFinite(RopeTheta))
        {
            Fail("rope_theta", $"{RopeTheta} must be a finite number > 1");
        }

        if (!string.Equals(HiddenAct, "silu", StringComparison.Ordinal))
        {
            Fail("hidden_act", $"'{HiddenAct}' is not supported; only 'silu' (SwiGLU) is implemented");
        }

        if (UseSlidingWindow)
        {
            Fail("use_sliding_window", "true is not supported; only full causal attention is implemented");
        }

        void Positive(int value, string key)
        {
            if (value <= 0)
            {
                Fail(key, $"{value} must be > 0");
            }
        }

        void Fail(string key, string what) => throw new VideoLongException($"Qwen2 config '{source}': '{key}' = {what}.");
    }

    private static void RequireDefaultRope(JsonElement rope, string key, string source)
    {
        foreach (string typeKey in new[] { "rope_type", "type" })
        {
            if (rope.TryGetProperty(typeKey, out JsonElement type) && type.ValueKind == JsonValueKind.String
                && type.GetString() is { } name && !string.Equals(name, "default", StringComparison.Ordinal))
            {
                throw new VideoLongException(
                    $"Qwen2 config '{source}': '{key}.{typeKey}' = '{name}' is not supported; only the default rotary embedding is implemented.");
            }
        }
    }

    /// <summary>Reads a token id given as a number, a list of numbers or null.</summary>
    private sealed class TokenIdListConverter : JsonConverter<IReadOnlyList<int>>
    {
        public override IReadOnlyList<int> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    return [];
                case JsonTokenType.Number:
                    return [reader.GetInt32()];
                case JsonTokenType.StartArray:
                    var ids = new List<int>();
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        ids.Add(reader.GetInt32());
                    }

                    return ids;
                default:
                    throw new JsonException($"Expected a token id or a list of token ids, got {reader.TokenType}.");
            }
        }

        public override void Write(Utf8JsonWriter writer, IReadOnlyList<int> value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (int id in value)
            {
                writer.WriteNumberValue(id);
            }

            writer.WriteEndArray();
        }
    }
}
