// HiCo clip-level merge schedule: repeated bipartite rounds that remove at most half of the tokens each.
// See ALGORITHMS.md §1.3 step 3 and §8.1.

namespace VideoLong.Vision.Compression;

/// <summary>How many tokens each bipartite merge round removes on the way from P tokens to K.</summary>
public static class HicoMergeSchedule
{
    /// <summary>
    /// r per round for <paramref name="p"/> tokens down to <paramref name="k"/>: while P − K &gt; ⌊P/2⌋ a round removes
    /// ⌊P/2⌋, then a final round removes P − K. 3136 → 64: [1568, 784, 392, 196, 98, 34]; 784 → 64: [392, 196, 98, 34];
    /// 196 → 64: [98, 34].
    /// </summary>
    /// <exception cref="VideoLongException">K &lt; 1, or P ≤ K (there is nothing to merge).</exception>
    public static int[] Compute(int p, int k)
    {
        if (k < 1)
        {
            throw new VideoLongException($"Invalid HiCo target of {k} tokens: must be ≥ 1.");
        }

        if (p <= k)
        {
            throw new VideoLongException(
                $"Cannot merge {p} tokens down to {k}: the token count P must be greater than the target K " +
                $"(valid: P > {k} for K = {k}, or K < {p} for P = {p}).");
        }

        var rounds = new List<int>();
        int current = p;
        while (current > k)
        {
            int half = current / 2;
            int r = current - k <= half ? current - k : half;   // r ≤ ⌊P/2⌋ ≤ |A| = ⌈P/2⌉
            rounds.Add(r);
            current -= r;
        }

        return [.. rounds];
    }
}
