using System.Text;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Finds added tokens in text the way HF tokenizers' <c>AddedVocabulary::find_matches</c> does: leftmost-longest,
/// non-overlapping matches (its Aho-Corasick <c>LeftmostLongest</c>), honouring <c>single_word</c>, <c>lstrip</c> and
/// <c>rstrip</c>. The text between matches is returned as segments without a token, for normalization and BPE.
/// </summary>
internal sealed class AddedTokenMatcher
{
    // Candidates by first character, longest first, so the first hit at a position is the longest.
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Segments covering <paramref name="text"/> in order; <c>Token</c> is null for ordinary text.</summary>
    public List<(int Start, int End, AddedToken? Token)> Split(string text)
    {
        var segments = new List<(int, int, AddedToken?)>();
        int startOffset = 0; // end of the last accepted match
        int searchFrom = 0;
        while (TryFindLeftmostLongest(text, searchFrom, out int start, out AddedToken? token))
        {
            int stop = start + token.Content.Length;
            searchFrom = stop;

            if (token.SingleWord)
            {
                bool spaceBefore = start == 0 || !IsWordChar(Rune.GetRuneAt(text, PreviousRuneStart(text, start)));
                bool spaceAfter = stop == text.Length || !IsWordChar(Rune.GetRuneAt(text, stop));
                if (!spaceBefore || !spaceAfter)
                {
                    continue;
                }
            }

            if (token.LStrip)
            {
                int newStart = start;
                while (newStart > 0 && char.IsWhiteSpace(text[newStart - 1]))
                {
                    newStart--;
                }

                start = Math.Max(newStart, startOffset);
            }

            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop]))
                {
                    stop++;
                }

                searchFrom = stop;
            }

            if (startOffset < start)
            {
                segments.Add((startOffset, start, null));
            }

            segments.Add((start, stop, token));
            startOffset = stop;
        }

        if (startOffset < text.Length)
        {
            segments.Add((startOffset, text.Length, null));
        }

        return segments;
    }

    private bool TryFindLeftmostLongest(string text, int from, out int start, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AddedToken? token)
    {
        for (int i = from; i < text.Length; i++)
        {
            if (!_byFirstChar.TryGetValue(text[i], out AddedToken[]? candidates))
            {
                continue;
            }

            foreach (AddedToken candidate in candidates)
            {
                if (text.AsSpan(i).StartsWith(candidate.Content, StringComparison.Ordinal))
                {
                    start = i;
                    token = candidate;
                    return true;
                }
            }
        }

        start = -1;
        token = null;
        return false;
    }

    private static int PreviousRuneStart(string text, int index) =>
        index >= 2 && char.IsLowSurrogate(text[index - 1]) && char.IsHighSurrogate(text[index - 2]) ? index - 2 : index - 1;

    private static bool IsWordChar(Rune r) =>
        Rune.IsLetterOrDigit(r) || Rune.GetUnicodeCategory(r) is System.Globalization.UnicodeCategory.ConnectorPunctuation
            or System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark;
}
