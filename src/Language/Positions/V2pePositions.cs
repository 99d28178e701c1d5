// V2PE — Variable Visual Position Encoding: fractional position ids for visual tokens (ALGORITHMS.md §3.2, checklist §8.5).
// Text tokens advance by 1; the tokens of one image advance by δ = stride / 256 each; the text after an image resumes at
// ⌈last visual position⌉ + 1. Stride 256 (δ = 1) gives the standard ids 0 … L − 1.
// Paper: V2PE, https://arxiv.org/abs/2412.09616. Reference: OpenGVLab/V2PE internvl/train/internvl_chat_finetune.py
// (get_rope_pos_id) and internvl/model/internlm2/modeling_internlm2.py (class V2PE: RoPE straight from float positions).
using static TorchSharp.torch;

namespace VideoLong.Language.Positions;

/// <summary>
/// Builds V2PE position ids. A sequence is described per token: text, or a visual token of some image; a maximal run of
/// visual tokens with the same image id is one image (all its tiles, thumbnail included, share one δ). Padding tokens
/// (attention mask 0, on the left) get position 1 and do not advance the position, as transformers does. Positions are
/// computed in double and returned as float32: every δ = stride / 256 is a dyadic fraction, so they are exact in float32
/// up to 2^16 = 65536 (beyond that float32 keeps fewer than 8 fractional bits).
/// </summary>
public static class V2pePositions
{
    /// <summary>Visual tokens per image tile in InternVL (448 px, pixel shuffle 0.5); δ = stride / this.</summary>
    public const int TokensPerTile = 256;

    /// <summary>The inference stride of the V2PE README (δ = 1/4).</summary>
    public const int InferenceStride = 64;

    /// <summary>The per-token id of a text token in <see cref="Compute(IReadOnlyList{int}, IReadOnlyList{int}, IReadOnlyList{bool}?)"/>.</summary>
    public const int Text = -1;

    /// <summary>The strides the training sampler draws from (v2pe_rnd): 1, 2, 4, …, 256 (δ = 1/256 … 1).</summary>
    public static IReadOnlyList<int> TrainingStrides { get; } = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    /// <summary>δ = stride / 256, after checking the stride.</summary>
    public static double Delta(int stride)
    {
        ValidateStride(stride);
        return stride / (double)TokensPerTile;
    }

    /// <summary>Throws unless 1 ≤ <paramref name="stride"/> ≤ 256.</summary>
    public static void ValidateStride(int stride)
    {
        if (stride < 1 || stride > TokensPerTile)
        {
            throw new ArgumentOutOfRangeException(nameof(stride), stride,
                $"The V2PE stride must be an integer in [1, {TokensPerTile}] (δ = stride / {TokensPerTile}); the reference uses the powers of two "
                + $"1, 2, 4, …, 256, inference {InferenceStride}; 256 gives the standard positions 0 … L − 1.");
        }
    }

    /// <summary>
    /// Positions for a sequence in which <paramref name="isVisual"/> marks the visual tokens; each maximal run of visual
    /// tokens is one image, and every image uses <paramref name="stride"/> (inference, v2pe_fix).
    /// </summary>
    public static double[] Compute(IReadOnlyList<bool> isVisual, int stride = InferenceStride, IReadOnlyList<bool>? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(isVisual);
        int[] imageIds = new int[isVisual.Count];
        int image = -1;
        for (int i = 0; i < imageIds.Length; i++)
        {
            bool startsRun = isVisual[i] && (i == 0 || !isVisual[i - 1]);
            image += startsRun ? 1 : 0;
            imageIds[i] = isVisual[i] ? image : Text;
        }

        return Compute(imageIds, stride, attentionMask);
    }

    /// <summary>
    /// Positions for a sequence of per-token image ids (<see cref="Text"/> = −1 for text, ≥ 0 for a visual token of that
    /// image; adjacent images need different ids), every image with the same <paramref name="stride"/>.
    /// </summary>
    public static double[] Compute(IReadOnlyList<int> imageIds, int stride, IReadOnlyList<bool>? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        ValidateStride(stride);
        int images = CountImages(imageIds);
        return Compute(imageIds, Enumerable.Repeat(stride, images).ToArray(), attentionMask);
    }

    /// <summary>
    /// Positions with one stride per image (training, v2pe_rnd: see <see cref="SampleStrides"/>):
    /// <paramref name="stridePerImage"/>[k] is the stride of the k-th image (visual run) in the sequence.
    /// </summary>
    public static double[] Compute(IReadOnlyList<int> imageIds, IReadOnlyList<int> stridePerImage, IReadOnlyList<bool>? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        ArgumentNullException.ThrowIfNull(stridePerImage);
        if (attentionMask is not null && attentionMask.Count != imageIds.Count)
        {
            throw new ArgumentException($"The attention mask has {attentionMask.Count} entries for {imageIds.Count} tokens.", nameof(attentionMask));
        }

        int images = CountImages(imageIds);
        if (stridePerImage.Count != images)
        {
            throw new ArgumentException($"The sequence holds {images} images (visual runs) but {stridePerImage.Count} strides were given.", nameof(stridePerImage));
        }

        var positions = new double[imageIds.Count];
        double last = -1;          // position of the previous real token, or the ceiling of the previous image's last one
        int image = -1;            // ordinal of the current visual run
        double delta = 1;
        for (int i = 0; i < positions.Length; i++)
        {
            bool real = attentionMask?[i] ?? true;
            int id = imageIds[i];
            if (id < Text)
            {
                throw new ArgumentOutOfRangeException(nameof(imageIds), id, $"Token {i}: image ids are {Text} (text) or ≥ 0.");
            }

            if (!real)
            {
                if (id != Text)
                {
                    throw new ArgumentException($"Token {i} is visual but padded (attention mask 0); only text may be padding.", nameof(attentionMask));
                }

                positions[i] = 1;   // as transformers: cumsum(mask) − 1, padded positions filled with 1
                continue;
            }

            if (id == Text)
            {
                if (i > 0 && imageIds[i - 1] != Text)
                {
                    last = Math.Ceiling(last);   // the text after an image resumes at ⌈last visual⌉ + 1
                }

                last += 1;
                positions[i] = last;
                continue;
            }

            if (i == 0 || imageIds[i - 1] != id)
            {
                last = Math.Ceiling(last);   // a new image starts after the ceiling of the previous one, as text does
                image++;
                delta = Delta(stridePerImage[image]);
            }

            last += delta;
            positions[i] = last;
        }

        return positions;
    }

    /// <summary>
    /// Batched positions as float32 [B, L] from <paramref name="visualMask"/> [B, L] (bool or 0/1; each run of visual
    /// tokens of a row is one image) and the optional left-padding <paramref name="attentionMask"/> [B, L] of 0/1.
    /// </summary>
    public static Tensor Build(Tensor visualMask, int stride = InferenceStride, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(visualMask);
        ValidateStride(stride);
        if (visualMask.ndim != 2 || (attentionMask is not null && !attentionMask.shape.SequenceEqual(visualMask.shape)))
        {
            throw new ArgumentException(
                $"The visual mask must be [B, L] and the attention mask the same shape; got [{string.Join(", ", visualMask.shape)}] and "
                + $"[{string.Join(", ", attentionMask?.shape ?? [])}].", nameof(visualMask));
        }

        int batch = (int)visualMask.shape[0];
        int length = (int)visualMask.shape[1];
        bool[] visual = visualMask.to(ScalarType.Bool).cpu().data<bool>().ToArray();
        bool[]? mask = attentionMask?.to(ScalarType.Bool).cpu().data<bool>().ToArray();
        var result = new float[batch * length];
        for (int b = 0; b < batch; b++)
        {
            double[] row = Compute(new ArraySegment<bool>(visual, b * length, length), stride,
                mask is null ? null : (IReadOnlyList<bool>)new ArraySegment<bool>(mask, b * length, length));
            for (int i = 0; i < length; i++)
            {
                result[b * length + i] = (float)row[i];
            }
        }

        return tensor(result, [batch, length], ScalarType.Float32).to(visualMask.device);
    }

    /// <summary>
    /// The training-time sampler (v2pe_rnd): one stride per image drawn uniformly from <see cref="TrainingStrides"/>,
    /// independently for each image. Pass a seeded <see cref="Random"/> for reproducible draws.
    /// </summary>
    public static int[] SampleStrides(int images, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        ArgumentNullException.ThrowIfNull(random);
        return Enumerable.Range(0, images).Select(_ => TrainingStrides[random.Next(TrainingStrides.Count)]).ToArray();
    }

    /// <summary>The number of images (maximal runs of one visual id) in a per-token id sequence.</summary>
    public static int CountImages(IReadOnlyList<int> imageIds)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        int count = 0;
        for (int i = 0; i < imageIds.Count; i++)
        {
            if (imageIds[i] != Text && (i == 0 || imageIds[i - 1] != imageIds[i]))
            {
                count++;
            }
        }

        return count;
    }
}
