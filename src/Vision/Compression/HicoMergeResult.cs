using static TorchSharp.torch;

namespace VideoLong.Vision.Compression;

/// <summary>
/// Merged tokens and their sizes (how many input tokens each one averages). <see cref="Tokens"/> has the input's dtype
/// and device; <see cref="Sizes"/> is fp32 (fp64 for fp64 input) and sums to P per clip.
/// </summary>
/// <param name="Tokens">[B, K, C] from <see cref="HicoMerger.Merge"/>; [T/L·K, C] from <see cref="HicoMerger.MergeVideo"/>.</param>
/// <param name="Sizes">[B, K], or [T/L·K] for a video.</param>
public sealed record HicoMergeResult(Tensor Tokens, Tensor Sizes) : IDisposable
{
    public void Dispose()
    {
        Tokens.Dispose();
        Sizes.Dispose();
    }
}

/// <summary>
/// One bipartite round (<see cref="HicoMerger.MergeRound"/>) with the matching it made. Indices are int64, per clip:
/// <see cref="Unmerged"/> and <see cref="Sources"/> index set A (the even positions, A[i] = token 2i) and together are
/// A sorted by best-match score, descending; <see cref="Destinations"/>[j] is the B index (B[j] = token 2j + 1) that
/// <see cref="Sources"/>[j] was merged into.
/// </summary>
/// <param name="Tokens">[B, P − r, C] = [unmerged A in descending-score order] ++ [all B in original order].</param>
/// <param name="Sizes">[B, P − r], in the same order.</param>
/// <param name="Unmerged">[B, ⌈P/2⌉ − r]: A indices that stay, in output order.</param>
/// <param name="Sources">[B, r]: A indices merged away, in descending-score order.</param>
/// <param name="Destinations">[B, r]: B index each source was averaged into.</param>
public sealed record HicoMergeRound(Tensor Tokens, Tensor Sizes, Tensor Unmerged, Tensor Sources, Tensor Destinations)
    : IDisposable
{
    public void Dispose()
    {
        Tokens.Dispose();
        Sizes.Dispose();
        Unmerged.Dispose();
        Sources.Dispose();
        Destinations.Dispose();
    }
}
