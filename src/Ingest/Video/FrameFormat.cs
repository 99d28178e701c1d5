using System.Globalization;

namespace VideoLong.Ingest;

/// <summary>How decoded frames are brought to the requested size.</summary>
public enum ResizeMode
{
    /// <summary>Keep the display size of the video (rotation applied, square pixels).</summary>
    None,

    /// <summary>Scale to exactly W×H, ignoring the aspect ratio (what most ViT processors do).</summary>
    Stretch,

    /// <summary>Preserve the aspect ratio and fit inside W×H; one side may be shorter than asked.</summary>
    Fit,

    /// <summary>Preserve the aspect ratio, cover W×H, and cut the centre.</summary>
    Crop,

    /// <summary>Preserve the aspect ratio, fit inside W×H, and pad the rest with black, centred.</summary>
    Pad,
}

/// <summary>The size and layout of delivered frames: RGB24 (interleaved, row-major, 3 bytes a pixel).</summary>
public sealed record FrameFormat
{
    public const int MaxSide = 16384;

    public int? Width { get; init; }

    public int? Height { get; init; }

    public ResizeMode Resize { get; init; } = ResizeMode.None;

    /// <summary>The video's own display size.</summary>
    public static FrameFormat Native { get; } = new();

    /// <summary>A model's input size, e.g. <c>FrameFormat.Model(448, 448, ResizeMode.Pad)</c>.</summary>
    public static FrameFormat Model(int width, int height, ResizeMode resize) => new() { Width = width, Height = height, Resize = resize };

    /// <summary>Parses "WxH" (e.g. "448x448").</summary>
    public static (int Width, int Height) ParseSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            && w is >= 1 and <= MaxSide && h is >= 1 and <= MaxSide)
        {
            return (w, h);
        }

        throw new VideoLongException($"Invalid size '{text}': expected WxH with 1 ≤ W, H ≤ {MaxSide}, e.g. 448x448.");
    }

    /// <summary>Checks the format is complete and within limits.</summary>
    public void Validate()
    {
        if (Resize == ResizeMode.None)
        {
            if (Width is not null || Height is not null)
            {
                throw new VideoLongException("A frame size was given without a resize mode; choose fit, crop, pad or stretch.");
            }

            return;
        }

        if (Width is not (>= 1 and <= MaxSide) || Height is not (>= 1 and <= MaxSide))
        {
            throw new VideoLongException($"Resize mode {Resize} needs a size with 1 ≤ W, H ≤ {MaxSide}; got {Width?.ToString(CultureInfo.InvariantCulture) ?? "none"}x{Height?.ToString(CultureInfo.InvariantCulture) ?? "none"}.");
        }
    }

    /// <summary>The output size and the FFmpeg filters that produce it from a display size of <paramref name="sourceWidth"/>×<paramref name="sourceHeight"/>.</summary>
    internal (int Width, int Height, string Filters) Plan(int sourceWidth, int sourceHeight, bool squarePixels)
    {
        Validate();
        var filters = new List<string>();
        int outW, outH;
        switch (Resize)
        {
            case ResizeMode.None:
                (outW, outH) = (sourceWidth, sourceHeight);
                if (!squarePixels)
                {
                    filters.Add(Scale(outW, outH));
                }

                break;
            case ResizeMode.Stretch:
                (outW, outH) = (Width!.Value, Height!.Value);
                filters.Add(Scale(outW, outH));
                break;
            case ResizeMode.Fit:
            case ResizeMode.Pad:
            {
                double s = Math.Min((double)Width!.Value / sourceWidth, (double)Height!.Value / sourceHeight);
                int w = Math.Clamp((int)Math.Round(sourceWidth * s), 1, Width.Value);
                int h = Math.Clamp((int)Math.Round(sourceHeight * s), 1, Height!.Value);
                filters.Add(Scale(w, h));
                if (Resize == ResizeMode.Pad)
                {
                    (outW, outH) = (Width.Value, Height.Value);
                    filters.Add(Inv($"pad={outW}:{outH}:{(outW - w) / 2}:{(outH - h) / 2}:black"));
                }
                else
                {
                    (outW, outH) = (w, h);
                }

                break;
            }

            case ResizeMode.Crop:
            {
                double s = Math.Max((double)Width!.Value / sourceWidth, (double)Height!.Value / sourceHeight);
                int w = Math.Max(Width.Value, (int)Math.Ceiling(sourceWidth * s - 1e-9));
                int h = Math.Max(Height!.Value, (int)Math.Ceiling(sourceHeight * s - 1e-9));
                (outW, outH) = (Width.Value, Height.Value);
                filters.Add(Scale(w, h));
                filters.Add(Inv($"crop={outW}:{outH}:{(w - outW) / 2}:{(h - outH) / 2}"));
                break;
            }

            default:
                throw new VideoLongException($"Unknown resize mode {Resize}.");
        }

        filters.Add("setsar=1");
        filters.Add("format=rgb24");
        return (outW, outH, string.Join(',', filters));
    }

    private static string Scale(int w, int h) => Inv($"scale={w}:{h}");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
