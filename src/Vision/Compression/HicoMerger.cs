// HiCo clip-level compression: ToMe bipartite soft matching with size-weighted averaging, as VideoChat-Flash's
// mm_projector "tome16_mlp_hd64" runs it before the MLP (UMT-L clip features [T/4, 4·N, 1024] → [T/4, 64, 1024]).
// See ALGORITHMS.md §1.3 and §8.1. Paper: VideoChat-Flash, arXiv 2501.00574; ToMe, arXiv 2210.09461.
//
// One round with r (HicoMergeSchedule gives r per round):
//   metric M = mean of the 16 contiguous channel groups (x.view(B, P, 16, C/16).mean(2)), L2-normalised, fp32
//   A = tokens 0, 2, 4, …   B = tokens 1, 3, 5, …   S = M_A·M_Bᵀ   best(a) = argmax_b S   score(a) = max_b S
//   A sorted by score, descending; the first r are merged into best(a):
//     x_b ← (s_b·x_b + Σ_{a→b} s_a·x_a) / (s_b + Σ s_a)     s_b ← s_b + Σ s_a
//   output = [unmerged A in descending-score order] ++ [all B in original order]
//
// Choices where the reference leaves room (tools/reference/hico_merge_reference.py makes the same ones):
// * Ties in the score sort keep A order (the lower A index first): a stable descending sort. torch.argsort(descending=
//   True) is not stable by contract; on random input ties do not occur, on degenerate input (identical tokens) this
//   makes the result deterministic. Ties in argmax_b take the first maximum, as torch.max does.
// * L2 normalisation is torch.nn.functional.normalize (eps 1e-12), so an all-zero token gives score 0, not NaN.
// * The averaging runs in fp32 (fp64 for fp64 input) and the tokens are cast back to the input dtype at the end;
//   VideoChat-Flash averages in the model dtype (fp16/bf16), which ALGORITHMS.md notes is not reproducible anyway.
// Matching (metric, scores, sort) runs without gradients; the averaging (gather, scatter_add, divide) is
// differentiable.

using TorchSharp;
using VideoLong.Vision.Models;
using static TorchSharp.torch;

namespace VideoLong.Vision.Compression;

/// <summary>HiCo token merging: clip features [B, P, C] → [B, K, C] by repeated bipartite soft matching.</summary>
public static class HicoMerger
{
    /// <summary>The metric averages this many contiguous channel groups (hence C must be divisible by 16).</summary>
    public const int MetricGroups = 16;

    /// <summary>Tokens kept per frame: 16, so a 4-frame clip keeps K = 64.</summary>
    public const int DefaultTokensPerFrame = 16;

    /// <summary>Frames per clip that UMT-L encodes jointly and HiCo merges together.</summary>
    public const int DefaultClipLength = 4;

    /// <summary>
    /// Merges each clip of <paramref name="features"/> [B, P, C] (C divisible by 16) down to
    /// <paramref name="targetTokens"/> = K tokens in the rounds of <see cref="HicoMergeSchedule.Compute"/>.
    /// Works on any device and floating dtype.
    /// </summary>
    /// <returns>Tokens [B, K, C] (input dtype) and sizes [B, K] (each row sums to P).</returns>
    /// <exception cref="VideoLongException">P ≤ K, or the features are not [B, P, C] floats with C divisible by 16.</exception>
    public static HicoMergeResult Merge(Tensor features, int targetTokens)
    {
        (long b, long p, _) = CheckFeatures(features, nameof(features));
        if (p == targetTokens)
        {
            // Already K tokens (e.g. a small tower whose clip holds exactly K patches): nothing to merge, every size is 1.
            // The schedule itself keeps the reference's P > K assertion.
            return new HicoMergeResult(features.alias(), ones(b, p, dtype: WorkType(features.dtype), device: features.device));
        }

        int[] schedule = HicoMergeSchedule.Compute(checked((int)p), targetTokens);

        using DisposeScope scope = NewDisposeScope();
        Tensor x = features.to(WorkType(features.dtype));                        // [B, P, C]
        Tensor sizes = ones(b, p, dtype: x.dtype, device: x.device);             // [B, P]
        foreach (int r in schedule)
        {
            HicoMergeRound round = Round(x, sizes, r);                           // [B, P − r, C], [B, P − r]
            x = round.Tokens;
            sizes = round.Sizes;
        }

        Tensor tokens = x.to(features.dtype);                                    // [B, K, C]
        return new HicoMergeResult(tokens.MoveToOuterDisposeScope(), sizes.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Merges sampled video frames: <paramref name="frames"/> [T, N, C] with T a multiple of
    /// <paramref name="clipLength"/> are grouped into clips [T/L, L·N, C] (frame-major: frame 0's N tokens, then frame
    /// 1's, …), each clip is merged to K = <paramref name="tokensPerFrame"/>·L tokens, and the clips are concatenated.
    /// The K tokens of a clip are not in frame order: merging spans the whole clip.
    /// </summary>
    /// <returns>Tokens [T/L·K, C] (= [16·T, C] with the defaults) and sizes [T/L·K] (each clip's K sizes sum to L·N).</returns>
    /// <exception cref="VideoLongException">T is not a positive multiple of the clip length, or L·N ≤ K.</exception>
    public static HicoMergeResult MergeVideo(Tensor frames, int tokensPerFrame = DefaultTokensPerFrame,
        int clipLength = DefaultClipLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokensPerFrame);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clipLength);
        if (frames.dim() != 3)
        {
            throw new ModelInputException(nameof(frames), frames.shape,
                $"HiCo takes frame features [T, N, C]; got a tensor of shape [{string.Join(", ", frames.shape)}].");
        }

        long t = frames.shape[0], n = frames.shape[1], c = frames.shape[2];
        if (t == 0 || t % clipLength != 0)
        {
            throw new ModelInputException(nameof(frames), frames.shape,
                $"HiCo merges clips of {clipLength} frames, but got T = {t} frames ({t % clipLength} left over). " +
                $"Hint: the frame count must be a positive multiple of the clip length ({clipLength}); sample with " +
                $"clip length {clipLength} or repeat the last frame.");
        }

        using DisposeScope scope = NewDisposeScope();
        Tensor clips = frames.reshape(t / clipLength, clipLength * n, c);         // [T, N, C] -> [T/L, L·N, C]
        HicoMergeResult merged = Merge(clips, tokensPerFrame * clipLength);      // [T/L, K, C], [T/L, K]
        Tensor tokens = merged.Tokens.reshape(-1, c);                            // [T/L, K, C] -> [T/L·K, C]
        Tensor sizes = merged.Sizes.reshape(-1);                                 // [T/L, K] -> [T/L·K]
        return new HicoMergeResult(tokens.MoveToOuterDisposeScope(), sizes.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Merges image tiles [M, N, C] (each tile one frame, e.g. 196 UMT tokens at 224 px) to K =
    /// <paramref name="tokensPerFrame"/>·<paramref name="clipLength"/> = 64 tokens per tile, as VideoChat-Flash does
    /// for non-video inputs.
    /// </summary>
    /// <returns>Tokens [M, K, C] and sizes [M, K].</returns>
    public static HicoMergeResult MergeImageTiles(Tensor tiles, int tokensPerFrame = DefaultTokensPerFrame,
        int clipLength = DefaultClipLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokensPerFrame);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clipLength);
        return Merge(tiles, tokensPerFrame * clipLength);
    }

    /// <summary>
    /// One bipartite round that removes <paramref name="r"/> (1 ≤ r ≤ ⌊P/2⌋) of the P tokens of each clip, with the
    /// matching it made. <paramref name="sizes"/> [B, P] defaults to ones.
    /// </summary>
    public static HicoMergeRound MergeRound(Tensor features, int r, Tensor? sizes = null)
    {
        (long b, long p, _) = CheckFeatures(features, nameof(features));
        if (r < 1 || r > p / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, $"A round over {p} tokens merges 1 to {p / 2} of them.");
        }

        if (sizes is not null && (sizes.dim() != 2 || sizes.shape[0] != b || sizes.shape[1] != p))
        {
            throw new ModelInputException(nameof(sizes), sizes.shape,
                $"Sizes must be [{b}, {p}] to match the features; got [{string.Join(", ", sizes.shape)}].");
        }

        using DisposeScope scope = NewDisposeScope();
        Tensor x = features.to(WorkType(features.dtype));                        // [B, P, C]
        Tensor s = sizes?.to(x.dtype, x.device) ?? ones(b, p, dtype: x.dtype, device: x.device);
        HicoMergeRound round = Round(x, s, r);
        return new HicoMergeRound(
            round.Tokens.to(features.dtype).MoveToOuterDisposeScope(),
            round.Sizes.MoveToOuterDisposeScope(),
            round.Unmerged.MoveToOuterDisposeScope(),
            round.Sources.MoveToOuterDisposeScope(),
            round.Destinations.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The matching metric of <paramref name="features"/> [B, P, C]: per token, the element-wise mean of its 16
    /// contiguous channel groups, L2-normalised, in fp32 → [B, P, C/16] (C/16 = 64 for UMT-L's 1024, hence "hd64").
    /// </summary>
    public static Tensor Metric(Tensor features)
    {
        (long b, long p, long c) = CheckFeatures(features, nameof(features));
        using DisposeScope scope = NewDisposeScope();
        using (no_grad())
        {
            Tensor groups = features.to(float32).reshape(b, p, MetricGroups, c / MetricGroups);   // [B, P, 16, C/16]
            Tensor mean = groups.mean([2]);                                                         // [B, P, C/16]
            return nn.functional.normalize(mean, p: 2, dim: -1).MoveToOuterDisposeScope();
        }
    }

    /// <summary>One round on work-dtype features [B, P, C] and sizes [B, P]; runs inside the caller's scope.</summary>
    private static HicoMergeRound Round(Tensor x, Tensor sizes, int r)
    {
        long b = x.shape[0], p = x.shape[1], c = x.shape[2];
        Tensor unmerged, sources, destinations;
        using (no_grad())
        {
            Tensor metric = Metric(x);                                            // [B, P, C/16]
            Tensor metricA = metric.slice(1, 0, p, 2);                            // [B, ⌈P/2⌉, C/16]
            Tensor metricB = metric.slice(1, 1, p, 2);                            // [B, ⌊P/2⌋, C/16]
            Tensor scores = metricA.matmul(metricB.transpose(-1, -2));            // [B, ⌈P/2⌉, ⌊P/2⌋]
            (Tensor best, Tensor match) = scores.max(-1);                         // [B, ⌈P/2⌉] score, B index
            (_, Tensor order) = best.sort(-1, descending: true, stable: true);    // [B, ⌈P/2⌉] A indices
            unmerged = order.slice(1, r, order.shape[1], 1).contiguous();         // [B, ⌈P/2⌉ − r]
            sources = order.slice(1, 0, r, 1).contiguous();                       // [B, r]
            destinations = match.gather(1, sources);                              // [B, r]
        }

        Tensor xA = x.slice(1, 0, p, 2);                                          // [B, ⌈P/2⌉, C] tokens 0, 2, 4, …
        Tensor xB = x.slice(1, 1, p, 2);                                          // [B, ⌊P/2⌋, C] tokens 1, 3, 5, …
        Tensor sA = sizes.slice(1, 0, p, 2);                                      // [B, ⌈P/2⌉]
        Tensor sB = sizes.slice(1, 1, p, 2);                                      // [B, ⌊P/2⌋]

        Tensor unmergedX = xA.gather(1, unmerged.unsqueeze(-1).expand(b, -1, c)); // [B, ⌈P/2⌉ − r, C]
        Tensor unmergedS = sA.gather(1, unmerged);                                // [B, ⌈P/2⌉ − r]
        Tensor sourceS = sA.gather(1, sources);                                   // [B, r]
        Tensor sourceW = xA.gather(1, sources.unsqueeze(-1).expand(b, -1, c)) * sourceS.unsqueeze(-1);   // [B, r, C]

        Tensor weighted = (xB * sB.unsqueeze(-1))                                 // [B, ⌊P/2⌋, C] s_b·x_b + Σ s_a·x_a
            .scatter_add(1, destinations.unsqueeze(-1).expand(b, -1, c), sourceW);
        Tensor mergedS = sB.scatter_add(1, destinations, sourceS);                // [B, ⌊P/2⌋] s_b + Σ s_a
        Tensor mergedX = weighted / mergedS.unsqueeze(-1);                        // [B, ⌊P/2⌋, C]

        return new HicoMergeRound(
            cat([unmergedX, mergedX], 1),                                         // [B, P − r, C]
            cat([unmergedS, mergedS], 1),                                         // [B, P − r]
            unmerged, sources, destinations);
    }

    private static ScalarType WorkType(ScalarType dtype) => dtype == float64 ? float64 : float32;

    private static (long B, long P, long C) CheckFeatures(Tensor features, string name)
    {
        if (features.dim() != 3 || !features.is_floating_point())
        {
            throw new ModelInputException(name, features.shape,
                $"HiCo takes floating-point clip features [B, P, C]; got {features.dtype} " +
                $"[{string.Join(", ", features.shape)}].");
        }

        long b = features.shape[0], p = features.shape[1], c = features.shape[2];
        if (c == 0 || c % MetricGroups != 0)
        {
            throw new ModelInputException(name, features.shape,
                $"HiCo's metric averages {MetricGroups} channel groups, so C must be a positive multiple of " +
                $"{MetricGroups} (1024 for UMT-L, 1152 for SigLIP); got C = {c}.");
        }

        if (b == 0 || p < 2)
        {
            throw new ModelInputException(name, features.shape,
                $"HiCo needs at least one clip of at least 2 tokens; got B = {b}, P = {p}.");
        }

        return (b, p, c);
    }
}
