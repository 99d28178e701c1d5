using System.Text;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Qwen2's pre-tokenizer: splits text into the pieces that byte-level BPE then encodes one by one. It is the regex
/// <see cref="Pattern"/> (HF <c>pre_tokenizers.Split(pattern, behavior="isolated")</c>), written out by hand as a
/// scanner over Unicode code points.
/// <para>
/// Why not <see cref="System.Text.RegularExpressions.Regex"/> (or Microsoft.ML.Tokenizers' RegexPreTokenizer, which
/// uses it): .NET regexes match UTF-16 code units, so a character outside the BMP is two surrogates, and surrogates
/// are neither <c>\p{L}</c> nor <c>\p{N}</c>. "😀abc" would then split as "😀" + "abc" where HF (Oniguruma, code
/// points) gives "😀abc", and letters such as 𠀀 (CJK Extension B) would not count as letters at all.
/// </para>
/// </summary>
internal static class Qwen2PreTokenizer
{
    /// <summary>Qwen2's pre-tokenizer regex, as in its tokenizer.json (the scanner below implements it).</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// The pieces of <paramref name="text"/> as (offset, length) in UTF-16 code units; they cover the text without
    /// gaps (every character matches one of the alternatives), in order.
    /// </summary>
    public static List<(int Offset, int Length)> Split(string text)
    {
        // Code points and the UTF-16 offset where each starts (offsets[n] = text.Length).
        var runes = new List<Rune>(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int consumed); // a lone surrogate reads as U+FFFD
            runes.Add(rune);
            offsets.Add(i);
            i += consumed;
        }

        offsets.Add(text.Length);

        var pieces = new List<(int, int)>();
        for (int i = 0; i < runes.Count;)
        {
            int end = MatchAt(runes, i);
            pieces.Add((offsets[i], offsets[end] - offsets[i]));
            i = end;
        }

        return pieces;
    }

    /// <summary>End (exclusive, in code points) of the match that starts at <paramref name="i"/>.</summary>
    private static int MatchAt(List<Rune> s, int i)
    {
        int n = s.Count;
        Rune r = s[i];

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (r.Value == '\'' && i + 1 < n)
        {
            int c1 = FoldAscii(s[i + 1]);
            if (c1 is 's' or 't' or 'm' or 'd')
            {
                return i + 2;
            }

            if (i + 2 < n)
            {
                int c2 = FoldAscii(s[i + 2]);
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                {
                    return i + 3;
                }
            }
        }

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (IsLetter(r))
        {
            return SkipLetters(s, i + 1);
        }

        if (!IsNewline(r) && !IsNumber(r) && i + 1 < n && IsLetter(s[i + 1]))
        {
            return SkipLetters(s, i + 2);
        }

        // 3. \p{N}
        if (IsNumber(r))
        {
            return i + 1;
        }

        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
        int start = r.Value == ' ' && i + 1 < n && IsOther(s[i + 1]) ? i + 1 : i;
        if (IsOther(s[start]))
        {
            int j = start + 1;
            while (j < n && IsOther(s[j]))
            {
                j++;
            }

            while (j < n && IsNewline(s[j]))
            {
                j++;
            }

            return j;
        }

        // What is left is whitespace. runEnd: end of the whitespace run that starts here.
        int runEnd = i + 1;
        while (runEnd < n && IsWhiteSpace(s[runEnd]))
        {
            runEnd++;
        }

        // 5. \s*[\r\n]+ : \s* backs off to the last newline of the run, and [\r\n]+ takes just that one.
        for (int k = runEnd - 1; k >= i; k--)
        {
            if (IsNewline(s[k]))
            {
                return k + 1;
            }
        }

        // 6. \s+(?!\S) : the whole run at the end of the text, else the run less its last character (which then
        //    starts the next piece, e.g. " " + "word"), when that leaves at least one.
        if (runEnd == n)
        {
            return n;
        }

        if (runEnd - 1 > i)
        {
            return runEnd - 1;
        }

        // 7. \s+
        return runEnd;
    }

    private static int SkipLetters(List<Rune> s, int j)
    {
        while (j < s.Count && IsLetter(s[j]))
        {
            j++;
        }

        return j;
    }

    private static bool IsLetter(Rune r) => Rune.IsLetter(r);                  // \p{L}: Lu Ll Lt Lm Lo

    private static bool IsNumber(Rune r) => Rune.IsNumber(r);                  // \p{N}: Nd Nl No

    private static bool IsWhiteSpace(Rune r) => Rune.IsWhiteSpace(r);          // \s: Unicode White_Space

    private static bool IsNewline(Rune r) => r.Value is '\r' or '\n';

    private static bool IsOther(Rune r) => !IsWhiteSpace(r) && !IsLetter(r) && !IsNumber(r); // [^\s\p{L}\p{N}]

    /// <summary>
    /// Simple case folding for the contraction letters: ASCII upper case, and U+017F LATIN SMALL LETTER LONG S,
    /// which Unicode case-folds to "s" (Oniguruma's (?i) honours that).
    /// </summary>
    private static int FoldAscii(Rune r) => r.Value switch
    {
        >= 'A' and <= 'Z' => r.Value + ('a' - 'A'),
        0x017F => 's',
        _ => r.Value,
    };
}
