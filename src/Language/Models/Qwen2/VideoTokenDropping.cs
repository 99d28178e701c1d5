// HiCo video-level compression: progressive visual-token dropping inside the Qwen2 decoder (ALGORITHMS.md §1.4,
// checklist §8.2). After decoder layer l_s of the prefill the visual span shrinks from ⌊Nv·ρ_{s−1}⌋ to ⌊Nv·ρ_s⌋ tokens,
// chosen uniformly or by the attention of the last prompt token; the deeper layers (and their KV cache) see only the kept
// tokens. Reference: OpenGVLab/VideoChat-Flash modeling_qwen2_flash.py (Qwen2Model_Flash.forward / flash_rank_drop),
// ported from PyramidDrop.
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Language.Models.Qwen2;

/// <summary>How a stage chooses the visual tokens it keeps (the reference's <c>llm_compress_type</c>).</summary>
public enum VideoTokenDropMode
{
    /// <summary>Every stage keeps ⌊linspace(0, cur − 1, keep)⌋.</summary>
    Uniform,

    /// <summary>Every stage keeps the top-k visual tokens by the last prompt token's attention (text-guided).</summary>
    Attention,

    /// <summary>Uniform at the first stage, attention at the later ones (the model card's inference setting).</summary>
    Uniform0Attention,
}

/// <summary>The position ids the layers after a drop use.</summary>
public enum VideoDropPositions
{
    /// <summary>
    /// As the reference: re-packed to 0 … len − 1 over the shortened sequence (with left padding: cumsum(mask) − 1, padded
    /// positions 1), and a decoded token's position in a layer after stage s is its full-sequence position minus the
    /// number of tokens dropped up to that stage. Fractional (V2PE) positions are lost after the first drop.
    /// </summary>
    Repacked,

    /// <summary>
    /// Kept tokens keep the positions they were given (e.g. V2PE floats), leaving gaps where tokens were dropped; decoded
    /// tokens keep their full-sequence positions in every layer. Not what the released checkpoints ran with.
    /// </summary>
    Original,
}

/// <summary>
/// Options of video-level token dropping for one sequence layout: one visual block of <see cref="VisualCount"/> tokens
/// starting at <see cref="VisualStart"/>. Applied during the prefill (more than one new token over an empty cache); the
/// cache remembers them, so the decoding steps that follow shift their positions and masks for the shortened layers.
/// Null options, or ratios that never shrink the span, leave the model bit-identical to the plain one.
/// </summary>
public sealed record VideoTokenDropping
{
    /// <summary>How each stage chooses (the reference's <c>llm_compress_type</c>).</summary>
    public required VideoTokenDropMode Mode { get; init; }

    /// <summary>1-based "after decoder layer l" of each stage, strictly increasing, each in [1, num_hidden_layers − 1].</summary>
    public required IReadOnlyList<int> Layers { get; init; }

    /// <summary>ρ_0 = 1, ρ_1, …, ρ_S: one more than <see cref="Layers"/>, non-increasing, in (0, 1].</summary>
    public required IReadOnlyList<double> Ratios { get; init; }

    /// <summary>Index p0 of the first visual token in the prompt (left padding included).</summary>
    public required int VisualStart { get; init; }

    /// <summary>Nv, the number of visual tokens (one contiguous block).</summary>
    public required int VisualCount { get; init; }

    /// <summary>Position ids after a drop; <see cref="VideoDropPositions.Repacked"/> as the reference.</summary>
    public VideoDropPositions Positions { get; init; } = VideoDropPositions.Repacked;

    /// <summary>The HF model card's optional inference setting: uniform0_attention, layers [4, 18], ratios [1, 0.75, 0.25].</summary>
    public static VideoTokenDropping ModelCard(int visualStart, int visualCount) => new()
    {
        Mode = VideoTokenDropMode.Uniform0Attention,
        Layers = [4, 18],
        Ratios = [1, 0.75, 0.25],
        VisualStart = visualStart,
        VisualCount = visualCount,
    };

    /// <summary>Visual tokens held after stage <paramref name="stage"/> (0 = before any drop): ⌊Nv·ρ_stage⌋.</summary>
    public int TokensAt(int stage) => (int)Math.Floor(VisualCount * Ratios[stage]);

    /// <summary>Whether some stage keeps fewer tokens than it receives.</summary>
    public bool DropsAnything => Enumerable.Range(1, Ratios.Count - 1).Any(s => TokensAt(s) < TokensAt(s - 1));

    /// <summary>Tokens dropped in all stages together: Nv − ⌊Nv·ρ_S⌋.</summary>
    public int TotalDropped => TokensAt(0) - TokensAt(Ratios.Count - 1);

    /// <summary>The mode of stage <paramref name="stage"/> (1-based, as ρ_stage).</summary>
    public VideoTokenDropMode ModeAt(int stage) => Mode switch
    {
        VideoTokenDropMode.Uniform0Attention => stage == 1 ? VideoTokenDropMode.Uniform : VideoTokenDropMode.Attention,
        _ => Mode,
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid value for a model of <paramref name="numHiddenLayers"/> layers and a prompt of <paramref name="sequenceLength"/> tokens.</summary>
    public void Validate(int numHiddenLayers, long sequenceLength)
    {
        if (!Enum.IsDefined(Mode))
        {
            throw new ArgumentException($"Video token dropping: Mode {Mode} is not one of Uniform, Attention, Uniform0Attention.");
        }

        if (Layers is null || Ratios is null || Ratios.Count != Layers.Count + 1)
        {
            throw new ArgumentException(
                $"Ratios must have one more entry than Layers (ρ_0 = 1 first); got {Layers?.Count.ToString() ?? "null"} layers and {Ratios?.Count.ToString() ?? "null"} ratios.");
        }

        for (int s = 0; s < Layers.Count; s++)
        {
            if (Layers[s] < 1 || Layers[s] > numHiddenLayers - 1 || (s > 0 && Layers[s] <= Layers[s - 1]))
            {
                throw new ArgumentException(
                    $"Video token dropping: layer {Layers[s]} (stage {s + 1}) is invalid. Drop layers are 1-based (\"after decoder layer l\"), strictly increasing, each in [1, {numHiddenLayers - 1}] for {numHiddenLayers} layers.");
            }
        }

        if (Ratios[0] != 1 || Ratios.Any(r => !(r > 0 && r <= 1)) || Ratios.Zip(Ratios.Skip(1)).Any(p => p.Second > p.First))
        {
            throw new ArgumentException(
                $"Video token dropping: ratios [{string.Join(", ", Ratios)}] are invalid. Ratios start with ρ_0 = 1 and are non-increasing, each in (0, 1].");
        }

        if (VisualCount < 1 || VisualStart < 0 || VisualStart + (long)VisualCount > sequenceLength)
        {
            throw new ArgumentException(
                $"Video token dropping: the visual span [{VisualStart}, {VisualStart + (long)VisualCount}) must be non-empty and lie inside the prompt of {sequenceLength} tokens.");
        }
    }

    /// <summary>
    /// The uniform choice ⌊linspace(0, current − 1, keep)⌋ as indices into the current visual span, ascending, computed
    /// exactly in integers: i·(current − 1) / (keep − 1) rounded down (keep = 1 → [0]).
    /// </summary>
    public static long[] UniformIndices(int current, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keep, current);
        if (keep <= 1)
        {
            return keep == 0 ? [] : [0];
        }

        var indices = new long[keep];
        for (long i = 0; i < keep; i++)
        {
            indices[i] = i * (current - 1) / (keep - 1);
        }

        return indices;
    }

    /// <summary>
    /// Rebuilds a sequence around a visual span: tokens[:p0] ++ visual[kept] ++ tokens[p0 + current:], for the hidden states
    /// [B, L, H], the positions [B, L] float32 and the padding [B, L] bool (null = none). <paramref name="kept"/> [B, keep]
    /// int64 holds ascending indices into the current span. Positions are re-packed or gathered as
    /// <paramref name="positionMode"/> says.
    /// </summary>
    internal static (Tensor Hidden, Tensor Positions, Tensor? Padding) Shorten(Tensor hidden, Tensor positions, Tensor? padding, Tensor kept,
        int visualStart, int current, VideoDropPositions positionMode)
    {
        using DisposeScope scope = NewDisposeScope();
        long batch = hidden.shape[0];
        long length = hidden.shape[1];
        long after = length - visualStart - current;
        Device device = hidden.device;
        Tensor index = cat(
        [
            arange(0, visualStart, ScalarType.Int64, device).unsqueeze(0).expand(batch, visualStart),              // [B, p0]
            kept.to(ScalarType.Int64, device) + visualStart,                                                         // [B, keep]
            arange(visualStart + current, length, ScalarType.Int64, device).unsqueeze(0).expand(batch, after),      // [B, after]
        ], 1);                                                                                                       // [B, L']
        long shortened = index.shape[1];
        Tensor newHidden = hidden.gather(1, index.unsqueeze(-1).expand(batch, shortened, hidden.shape[2]));        // [B, L, H] -> [B, L', H]
        Tensor? newPadding = padding?.gather(1, index);                                                            // [B, L'] bool
        Tensor newPositions = positionMode switch
        {
            VideoDropPositions.Original => positions.gather(1, index),                                             // [B, L'] the given positions
            _ when newPadding is not null => (newPadding.to(ScalarType.Int64).cumsum(-1) - 1)
                .masked_fill(newPadding.logical_not(), 1).to(ScalarType.Float32),                                  // [B, L'] as HF, padded = 1
            _ => arange(0, shortened, ScalarType.Float32, device).unsqueeze(0).expand(batch, shortened),          // [B, L'] 0 … L' − 1
        };
        return (newHidden.MoveToOuterDisposeScope(), newPositions.MoveToOuterDisposeScope(), newPadding?.MoveToOuterDisposeScope());
    }
}
