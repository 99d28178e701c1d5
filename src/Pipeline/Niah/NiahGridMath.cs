namespace VideoLong.Pipeline.Niah;

/// <summary>The grid and placement arithmetic of the published protocols (ALGORITHMS.md §1.6, §5.1).</summary>
public static class NiahGridMath
{
    /// <summary>min, min + step, … ≤ max.</summary>
    public static IReadOnlyList<int> Range(int min, int max, int step)
    {
        if (min < 1 || step < 1 || max < min)
        {
            throw new VideoLongException($"Invalid frame range {min}..{max} step {step}: needs 1 ≤ min ≤ max and step ≥ 1.");
        }

        var values = new List<int>();
        for (long v = min; v <= max; v += step)
        {
            values.Add((int)v);
        }

        return values;
    }

    /// <summary><paramref name="count"/> depths evenly spaced from 0 to 1 (6 → 0, 0.2, …, 1), rounded to 10 decimals.</summary>
    public static IReadOnlyList<double> EvenDepths(int count)
    {
        if (count < 2)
        {
            throw new VideoLongException($"Invalid depth count {count}: at least 2 (0 and 1).");
        }

        return Enumerable.Range(0, count).Select(i => Math.Round((double)i / (count - 1), 10)).ToArray();
    }

    /// <summary>
    /// The haystack frame before which the needle goes: ⌊d·F⌋ (0 = before the first frame, F = after the last). The
    /// product is rounded to 9 decimals first so that 0.6·1000 is 600, not 599 from 599.9999….
    /// </summary>
    public static int InsertionIndex(double depth, int frames)
    {
        if (!(depth >= 0 && depth <= 1))
        {
            throw new VideoLongException($"Invalid depth {depth}: must be in [0, 1].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        return (int)Math.Floor(Math.Round(depth * frames, 9));
    }

    /// <summary>
    /// Frame order of a trial: haystack indices 0…F−1 with the needle (−1) inserted before frame ⌊d·F⌋; F + 1 entries.
    /// </summary>
    public static int[] Layout(int frames, double depth)
    {
        int at = InsertionIndex(depth, frames);
        var order = new int[frames + 1];
        for (int i = 0, j = 0; i <= frames; i++)
        {
            order[i] = i == at ? -1 : j++;
        }

        return order;
    }

    /// <summary>
    /// Multi-hop placement (VideoChat-Flash): needle 0 first, then for k ≥ 1 haystack frames
    /// [⌊(k−1)·F/(n−1)⌋, ⌊k·F/(n−1)⌋) followed by needle k. Returns (haystack start, end) of the slice before each needle
    /// (needle 0's slice is empty). One needle goes first with the whole haystack after it.
    /// </summary>
    public static (int Start, int End)[] MultihopSlices(int frames, int needles)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(needles, 1);
        var slices = new (int, int)[needles];
        slices[0] = (0, 0);
        for (int k = 1; k < needles; k++)
        {
            slices[k] = ((int)((long)(k - 1) * frames / (needles - 1)), (int)((long)k * frames / (needles - 1)));
        }

        return slices;
    }

    /// <summary>Haystack frame i of a haystack of <paramref name="available"/> encoded frames: tiled when longer (VideoChat-Flash duplicates).</summary>
    public static int SourceFrame(int i, int available) => i % available;
}
