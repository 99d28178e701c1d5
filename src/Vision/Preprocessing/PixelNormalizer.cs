using VideoLong.Ingest;

namespace VideoLong.Vision;

/// <summary>Per-channel normalisation of a vision tower: x' = (x/255 − mean) / std.</summary>
public sealed record PixelNormalization(float[] Mean, float[] Std)
{
    /// <summary>SigLIP (and LongVILA's tower): mean 0.5, std 0.5 → values in [−1, 1].</summary>
    public static PixelNormalization Siglip { get; } = new([0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);

    /// <summary>CLIP / OpenAI: the CLIP training-set statistics.</summary>
    public static PixelNormalization Clip { get; } = new([0.48145466f, 0.4578275f, 0.40821073f], [0.26862954f, 0.26130258f, 0.27577711f]);

    /// <summary>ImageNet statistics (ResNet, UMT).</summary>
    public static PixelNormalization ImageNet { get; } = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
}

/// <summary>
/// Turns RGB24 frames (interleaved H×W×3 bytes, as Ingest delivers them) into the planar float layout vision towers
/// take: [3, H, W], normalised per channel.
/// </summary>
public static class PixelNormalizer
{
    /// <summary>Writes the frame as [3, H, W] floats into <paramref name="destination"/> (length 3·H·W).</summary>
    public static void ToPlanar(ReadOnlySpan<byte> rgb24, int width, int height, PixelNormalization normalization, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        int plane = width * height;
        if (rgb24.Length != plane * 3)
        {
            throw new ArgumentException($"Expected {plane * 3} bytes for a {width}x{height} RGB24 frame, got {rgb24.Length}.", nameof(rgb24));
        }

        if (destination.Length != plane * 3)
        {
            throw new ArgumentException($"Destination must hold {plane * 3} floats, it holds {destination.Length}.", nameof(destination));
        }

        if (normalization.Mean.Length != 3 || normalization.Std.Length != 3 || normalization.Std.Any(s => !(s > 0)))
        {
            throw new ArgumentException("Normalisation needs 3 means and 3 positive standard deviations.", nameof(normalization));
        }

        for (int c = 0; c < 3; c++)
        {
            // x/255 − mean) / std  ==  x · scale + bias
            float scale = 1f / (255f * normalization.Std[c]);
            float bias = -normalization.Mean[c] / normalization.Std[c];
            Span<float> target = destination.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                target[i] = (rgb24[(i * 3) + c] * scale) + bias;
            }
        }
    }

    /// <summary>A frame as [3, H, W] floats.</summary>
    public static float[] ToPlanar(VideoFrame frame, PixelNormalization normalization)
    {
        ArgumentNullException.ThrowIfNull(frame);
        float[] result = new float[frame.Width * frame.Height * 3];
        ToPlanar(frame.Rgb24, frame.Width, frame.Height, normalization, result);
        return result;
    }
}
