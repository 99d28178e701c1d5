namespace VideoLong.Vision;

/// <summary>
/// Bicubic resampling of RGB24 images exactly as Pillow's <c>Image.resize(..., BICUBIC)</c> does it (Resample.c):
/// a separable filter (Keys cubic, a = −0.5) whose support widens by the scale when shrinking (antialiasing), weights
/// normalised per output pixel and converted to 22-bit fixed point, a horizontal pass then a vertical pass, each rounded
/// and clipped to 8 bits. transformers' image processors resize uint8 images through Pillow, so this reproduces their
/// pixel values bit for bit.
/// </summary>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const double Support = 2.0;

    public static byte[] Bicubic(ReadOnlySpan<byte> rgb, int width, int height, int newWidth, int newHeight)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(newWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(newHeight);
        if (rgb.Length != width * height * 3)
        {
            throw new ArgumentException($"Expected {width * height * 3} bytes for {width}x{height} RGB24, got {rgb.Length}.", nameof(rgb));
        }

        byte[] current = rgb.ToArray();
        int w = width, h = height;
        if (newWidth != w)
        {
            current = Horizontal(current, w, h, newWidth);
            w = newWidth;
        }

        if (newHeight != h)
        {
            current = Vertical(current, w, h, newHeight);
        }

        return current;
    }

    private static byte[] Horizontal(byte[] src, int width, int height, int newWidth)
    {
        (int[] bounds, int[] coeffs, int k) = Coefficients(width, newWidth);
        byte[] dst = new byte[newWidth * height * 3];
        for (int y = 0; y < height; y++)
        {
            int row = y * width * 3;
            for (int x = 0; x < newWidth; x++)
            {
                int xmin = bounds[x * 2], xsize = bounds[(x * 2) + 1];
                for (int c = 0; c < 3; c++)
                {
                    long ss = 1 << (PrecisionBits - 1);
                    for (int i = 0; i < xsize; i++)
                    {
                        ss += src[row + ((xmin + i) * 3) + c] * (long)coeffs[(x * k) + i];
                    }

                    dst[(((y * newWidth) + x) * 3) + c] = Clip8(ss);
                }
            }
        }

        return dst;
    }

    private static byte[] Vertical(byte[] src, int width, int height, int newHeight)
    {
        (int[] bounds, int[] coeffs, int k) = Coefficients(height, newHeight);
        byte[] dst = new byte[width * newHeight * 3];
        for (int y = 0; y < newHeight; y++)
        {
            int ymin = bounds[y * 2], ysize = bounds[(y * 2) + 1];
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    long ss = 1 << (PrecisionBits - 1);
                    for (int i = 0; i < ysize; i++)
                    {
                        ss += src[((((ymin + i) * width) + x) * 3) + c] * (long)coeffs[(y * k) + i];
                    }

                    dst[(((y * width) + x) * 3) + c] = Clip8(ss);
                }
            }
        }

        return dst;
    }

    /// <summary>precompute_coeffs + normalize_coeffs_8bpc: per output pixel its first input index, tap count and fixed-point weights.</summary>
    private static (int[] Bounds, int[] Coeffs, int K) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support * filterScale;
        int k = ((int)Math.Ceiling(support) * 2) + 1;
        int[] bounds = new int[outSize * 2];
        int[] fixedPoint = new int[outSize * k];
        double[] weights = new double[k];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            double total = 0;
            for (int x = 0; x < xmax; x++)
            {
                double w = Cubic((x + xmin - center + 0.5) * ss);
                weights[x] = w;
                total += w;
            }

            for (int x = 0; x < xmax; x++)
            {
                double w = total != 0 ? weights[x] / total : weights[x];
                fixedPoint[(xx * k) + x] = (int)((w * (1 << PrecisionBits)) + (w < 0 ? -0.5 : 0.5));
            }

            bounds[xx * 2] = xmin;
            bounds[(xx * 2) + 1] = xmax;
        }

        return (bounds, fixedPoint, k);
    }

    private static double Cubic(double x)
    {
        const double A = -0.5;
        x = Math.Abs(x);
        if (x < 1.0)
        {
            return ((((A + 2.0) * x) - (A + 3.0)) * x * x) + 1;
        }

        return x < 2.0 ? ((((x - 5) * x) + 8) * x - 4) * A : 0.0;
    }

    private static byte Clip8(long value)
    {
        long v = value >> PrecisionBits;
        return (byte)Math.Clamp(v, 0, 255);
    }
}
