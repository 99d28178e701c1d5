using TorchSharp;

namespace VideoLong.Vision;

/// <summary>
/// LLaVA-OneVision / LLaVA-NeXT "anyres" image preprocessing, as transformers' <c>LlavaOnevisionImageProcessor</c>:
/// the image resized to fit the best grid resolution (aspect kept, bicubic), centred on a black canvas of that size, cut
/// into tiles of the tower's input size (row-major), preceded by the whole image resized to one tile; then rescaled to
/// [0, 1] and normalised. Output [1, 1 + tiles, 3, S, S].
/// </summary>
public static class AnyresImageProcessor
{
    /// <summary>select_best_resolution (same rule as the model's packing). Returns (height, width).</summary>
    public static (int Height, int Width) SelectBestResolution(int height, int width, IReadOnlyList<(int Height, int Width)> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            throw new VideoLongException("image_grid_pinpoints is empty: anyres images need at least one resolution.");
        }

        (int, int) best = candidates[0];
        long maxEffective = 0;
        long minWasted = long.MaxValue;
        foreach ((int h, int w) in candidates)
        {
            double scale = Math.Min((double)w / width, (double)h / height);
            long downW = (long)(width * scale), downH = (long)(height * scale);
            long effective = Math.Min(downW * downH, (long)width * height);
            long wasted = ((long)w * h) - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted))
            {
                maxEffective = effective;
                minWasted = wasted;
                best = (h, w);
            }
        }

        return best;
    }

    /// <summary>The tiles of an RGB24 image as normalised pixel values [1, 1 + tiles, 3, S, S] (float32, CPU).</summary>
    public static torch.Tensor Process(ReadOnlySpan<byte> rgb, int width, int height, int tileSize, IReadOnlyList<(int Height, int Width)> pinpoints,
        PixelNormalization normalization)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tileSize);
        (int targetH, int targetW) = SelectBestResolution(height, width, pinpoints);
        if (targetH % tileSize != 0 || targetW % tileSize != 0)
        {
            throw new VideoLongException($"Grid resolution {targetH}x{targetW} is not a multiple of the tile size {tileSize}.");
        }

        // get_patch_output_size: fit inside the target, aspect kept, the long side exact.
        double scaleW = (double)targetW / width, scaleH = (double)targetH / height;
        (int newH, int newW) = scaleW < scaleH
            ? (Math.Min((int)Math.Ceiling(height * scaleW), targetH), targetW)
            : (targetH, Math.Min((int)Math.Ceiling(width * scaleH), targetW));
        byte[] resized = PilResize.Bicubic(rgb, width, height, newW, newH);

        // _pad_for_patching: centred on black, the odd pixel at the bottom/right.
        byte[] canvas = new byte[targetW * targetH * 3];
        int left = (targetW - newW) / 2, top = (targetH - newH) / 2;
        for (int y = 0; y < newH; y++)
        {
            resized.AsSpan(y * newW * 3, newW * 3).CopyTo(canvas.AsSpan((((top + y) * targetW) + left) * 3));
        }

        int rows = targetH / tileSize, columns = targetW / tileSize;
        int plane = tileSize * tileSize * 3;
        float[] data = new float[(1 + (rows * columns)) * plane];
        byte[] whole = PilResize.Bicubic(rgb, width, height, tileSize, tileSize);
        PixelNormalizer.ToPlanar(whole, tileSize, tileSize, normalization, data.AsSpan(0, plane));
        byte[] tile = new byte[plane];
        int index = 1;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++, index++)
            {
                for (int y = 0; y < tileSize; y++)
                {
                    canvas.AsSpan(((((r * tileSize) + y) * targetW) + (c * tileSize)) * 3, tileSize * 3).CopyTo(tile.AsSpan(y * tileSize * 3));
                }

                PixelNormalizer.ToPlanar(tile, tileSize, tileSize, normalization, data.AsSpan(index * plane, plane));
            }
        }

        return torch.tensor(data, [1, 1 + (rows * columns), 3, tileSize, tileSize]);
    }
}
