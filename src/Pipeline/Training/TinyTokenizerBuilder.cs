using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace VideoLong.Pipeline.Training;

/// <summary>
/// Learns a small byte-level BPE vocabulary (256 byte tokens + merges) from texts and writes it as HF tokenizer files
/// that <see cref="Language.Tokenization.Qwen2Tokenizer"/> loads: tokenizer.json (Qwen2's pre-tokenizer, NFC,
/// byte-level decoder) and tokenizer_config.json, with the special tokens the chat template and the placeholder
/// expander need (&lt;|endoftext|&gt; = 0, &lt;|im_start|&gt; = 1, &lt;|im_end|&gt; = 2, &lt;image&gt;, &lt;video&gt; last).
/// </summary>
public static class TinyTokenizerBuilder
{
    /// <summary>Qwen2's pre-tokenizer split pattern.</summary>
    public const string SplitPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly Regex Splitter = new(SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static readonly string[] Specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>The vocabulary (token → id) and merges learned from <paramref name="texts"/>, at most <paramref name="maxMerges"/> merges of pairs seen at least twice.</summary>
    public static (Dictionary<string, int> Vocabulary, List<(string Left, string Right)> Merges) Learn(IEnumerable<string> texts, int maxMerges)
    {
        char[] byteChars = ByteChars();
        var words = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string text in texts)
        {
            foreach (Match m in Splitter.Matches(text.Normalize(NormalizationForm.FormC)))
            {
                string mapped = new(Encoding.UTF8.GetBytes(m.Value).Select(b => byteChars[b]).ToArray());
                words[mapped] = words.GetValueOrDefault(mapped) + 1;
            }
        }

        // Each word as its list of symbols; merge the most frequent adjacent pair (ties: ordinal order) until done.
        List<(List<string> Symbols, long Count)> pieces = words.OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select(w => (w.Key.Select(c => c.ToString()).ToList(), w.Value)).ToList();
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string s in Specials)
        {
            vocab[s] = vocab.Count;
        }

        foreach (char c in byteChars.OrderBy(c => c))
        {
            vocab[c.ToString()] = vocab.Count;
        }

        var merges = new List<(string, string)>();
        while (merges.Count < maxMerges)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach ((List<string> symbols, long count) in pieces)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    (string, string) pair = (symbols[i], symbols[i + 1]);
                    pairs[pair] = pairs.GetValueOrDefault(pair) + count;
                }
            }

            if (pairs.Count == 0)
            {
                break;
            }

            KeyValuePair<(string L, string R), long> best = pairs.OrderByDescending(p => p.Value)
                .ThenBy(p => p.Key.Item1, StringComparer.Ordinal).ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First();
            if (best.Value < 2)
            {
                break;
            }

            string merged = best.Key.L + best.Key.R;
            merges.Add((best.Key.L, best.Key.R));
            vocab.TryAdd(merged, vocab.Count);
            foreach ((List<string> symbols, _) in pieces)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == best.Key.L && symbols[i + 1] == best.Key.R)
                    {
                        symbols[i] = merged;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }

        return (vocab, merges);
    }

    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="directory"/>; returns the ids of &lt;image&gt; and &lt;video&gt; and the vocabulary size.</summary>
    public static (int ImageId, int VideoId, int Size) Write(string directory, Dictionary<string, int> vocab, List<(string Left, string Right)> merges)
    {
        Directory.CreateDirectory(directory);
        int imageId = vocab.Count, videoId = vocab.Count + 1;
        var vocabNode = new JsonObject();
        foreach ((string token, int id) in vocab.OrderBy(v => v.Value))
        {
            vocabNode[token] = id;
        }

        var added = new JsonArray();
        foreach ((string content, int id) in Specials.Select((s, i) => (s, i)).Append(("<image>", imageId)).Append(("<video>", videoId)))
        {
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        }

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = SplitPattern }, ["behavior"] = "Isolated", ["invert"] = false,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
                },
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false,
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocabNode,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray()),
            },
        };
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), root.ToJsonString(options));
        var config = new JsonObject
        {
            ["backend"] = "tokenizers",
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = "<|im_end|>",
            ["pad_token"] = "<|endoftext|>",
            ["extra_special_tokens"] = new JsonArray("<|im_start|>", "<|im_end|>", "<image>", "<video>"),
            ["model_max_length"] = 32768,
            ["tokenizer_class"] = "Qwen2Tokenizer",
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(options));
        return (imageId, videoId, videoId + 1);
    }

    /// <summary>GPT-2's byte → printable character table (bytes_to_unicode).</summary>
    public static char[] ByteChars()
    {
        var table = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + extra++);
        }

        return table;
    }
}
