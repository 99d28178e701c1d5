using System.Text;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition; UAX #15), as HF tokenizers'
/// <c>normalizers.NFC</c> applies it before pre-tokenization. Written here because the repository builds with
/// <c>InvariantGlobalization</c>, where <see cref="string.Normalize()"/> returns non-ASCII text unchanged.
/// The tables (UnicodeNormalizer.Data.cs) are generated from Unicode 14.0.
/// </summary>
internal static partial class UnicodeNormalizer
{
    // Hangul syllables compose and decompose algorithmically (Unicode §3.12).
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    // Below U+0300 every character is a starter that is already in NFC, so such text needs no work.
    private const char FirstNonTrivial = '\u0300';

    private static readonly Tables s_tables = new();

    public static string Nfc(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange(FirstNonTrivial, char.MaxValue);
        if (first < 0)
        {
            return text;
        }

        // Everything before `first` is a starter already in NFC; only the last of those can still compose with what
        // follows, so decomposition starts there.
        first = Math.Max(0, first - 1);
        var codePoints = new List<int>(text.Length);
        foreach (Rune rune in text.AsSpan(first).EnumerateRunes())
        {
            Decompose(rune.Value, codePoints);
        }

        ReorderCanonically(codePoints);
        int count = Compose(codePoints);

        var sb = new StringBuilder(text.Length);
        sb.Append(text.AsSpan(0, first));
        Span<char> buffer = stackalloc char[2];
        for (int i = 0; i < count; i++)
        {
            sb.Append(buffer[..new Rune(codePoints[i]).EncodeToUtf16(buffer)]);
        }

        return sb.ToString();
    }

    internal static int CombiningClass(int codePoint)
    {
        if (codePoint < FirstNonTrivial)
        {
            return 0;
        }

        ReadOnlySpan<int> ranges = CombiningClassRanges;
        int lo = 0, hi = (ranges.Length / 3) - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (codePoint < ranges[mid * 3])
            {
                hi = mid - 1;
            }
            else if (codePoint > ranges[(mid * 3) + 1])
            {
                lo = mid + 1;
            }
            else
            {
                return ranges[(mid * 3) + 2];
            }
        }

        return 0;
    }

    private static void Decompose(int codePoint, List<int> output)
    {
        int s = codePoint - SBase;
        if (s is >= 0 and < SCount)
        {
            output.Add(LBase + (s / NCount));
            output.Add(VBase + (s % NCount / TCount));
            if (s % TCount != 0)
            {
                output.Add(TBase + (s % TCount));
            }

            return;
        }

        if (s_tables.Decomposition.TryGetValue(codePoint, out (int First, int Second) parts))
        {
            Decompose(parts.First, output);
            if (parts.Second != 0)
            {
                Decompose(parts.Second, output);
            }

            return;
        }

        output.Add(codePoint);
    }

    /// <summary>Stable sort of each run of non-starters by combining class.</summary>
    private static void ReorderCanonically(List<int> codePoints)
    {
        for (int i = 1; i < codePoints.Count; i++)
        {
            int cc = CombiningClass(codePoints[i]);
            if (cc == 0)
            {
                continue;
            }

            int j = i;
            int moving = codePoints[i];
            while (j > 0 && CombiningClass(codePoints[j - 1]) > cc)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }

            codePoints[j] = moving;
        }
    }

    /// <summary>Canonical composition in place; returns the new length.</summary>
    private static int Compose(List<int> buffer)
    {
        if (buffer.Count == 0)
        {
            return 0;
        }

        int starterPosition = 0;
        int starter = buffer[0];
        int lastClass = CombiningClass(starter);
        if (lastClass != 0)
        {
            lastClass = 256; // a leading non-starter blocks everything after it from composing with it
        }

        int target = 1;
        for (int i = 1; i < buffer.Count; i++)
        {
            int ch = buffer[i];
            int chClass = CombiningClass(ch);
            int composite = ComposePair(starter, ch);
            if (composite >= 0 && (lastClass < chClass || lastClass == 0))
            {
                buffer[starterPosition] = composite;
                starter = composite;
                continue;
            }

            if (chClass == 0)
            {
                starterPosition = target;
                starter = ch;
            }

            lastClass = chClass;
            buffer[target++] = ch;
        }

        return target;
    }

    private static int ComposePair(int first, int second)
    {
        int l = first - LBase;
        if (l is >= 0 and < LCount)
        {
            int v = second - VBase;
            return v is >= 0 and < VCount ? SBase + (((l * VCount) + v) * TCount) : -1;
        }

        int s = first - SBase;
        if (s is >= 0 and < SCount && s % TCount == 0)
        {
            int t = second - TBase;
            return t is > 0 and < TCount ? first + t : -1;
        }

        return s_tables.Composition.TryGetValue(((long)first << 21) | (uint)second, out int composite) ? composite : -1;
    }

    private sealed class Tables
    {
        public Tables()
        {
            ReadOnlySpan<int> rows = Decompositions;
            for (int i = 0; i < rows.Length; i += 4)
            {
                int codePoint = rows[i], first = rows[i + 1], second = rows[i + 2];
                Decomposition[codePoint] = (first, second);
                if (rows[i + 3] == 1)
                {
                    Composition[((long)first << 21) | (uint)second] = codePoint;
                }
            }
        }

        public Dictionary<int, (int First, int Second)> Decomposition { get; } = new(2100);

        public Dictionary<long, int> Composition { get; } = new(1000);
    }
}
