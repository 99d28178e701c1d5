using NetVips;
using SkiaSharp;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Niah;

/// <summary>Frames for the encoder: RGB buffers resized to the tower's square, needle images, text rendered into a frame.</summary>
public static class NiahFrames
{
    /// <summary>A frame of <paramref name="size"/>² from RGB24 pixels of any size (stretched, as <c>chat</c> samples video).</summary>
    public static VideoFrame FromRgb(byte[] rgb, int width, int height, int size, int index = 0, double seconds = 0)
    {
        ArgumentNullException.ThrowIfNull(rgb);
        byte[] pixels;
        if (width == size && height == size)
        {
            pixels = rgb.AsSpan(0, size * size * 3).ToArray();   // a copy: decoded frames hand their pooled buffers back
        }
        else
        {
            using Image source = Image.NewFromMemory(rgb, width, height, 3, Enums.BandFormat.Uchar);
            using Image resized = source.Resize((double)size / width, vscale: (double)size / height);
            pixels = resized.WriteToMemory<byte>();
        }

        return Make(pixels, size, index, seconds);
    }

    /// <summary>Images read whole (needles, training backgrounds) may hold at most this many pixels.</summary>
    public const long MaxImagePixels = 100_000_000;

    /// <summary>
    /// An image file as one frame of <paramref name="size"/>² (alpha flattened on white, grey expanded to RGB);
    /// <paramref name="what"/> names the file's role in errors.
    /// </summary>
    public static VideoFrame FromImageFile(string path, int size, string what = "NIAH needle image")
    {
        if (!File.Exists(path))
        {
            throw new VideoLongException($"{what} '{path}' does not exist.");
        }

        try
        {
            using Image loaded = Image.NewFromFile(path, access: Enums.Access.Sequential);
            if ((long)loaded.Width * loaded.Height > MaxImagePixels)
            {
                throw new VideoLongException($"{what} '{path}' is {loaded.Width}×{loaded.Height}; at most {MaxImagePixels:N0} pixels are read whole (use a smaller image).");
            }

            (byte[] rgb, int w, int h) = ToRgb(loaded);
            return FromRgb(rgb, w, h, size);
        }
        catch (VipsException e)
        {
            throw new VideoLongException($"{what} '{path}' cannot be read as an image: {VideoLongCliText(e.Message)}", e);
        }
    }

    /// <summary>RGB24 bytes of a libvips image (any band count or format).</summary>
    public static (byte[] Rgb, int Width, int Height) ToRgb(Image image)
    {
        ArgumentNullException.ThrowIfNull(image);
        Image current = image;
        var owned = new List<Image>();
        try
        {
            if (current.HasAlpha())
            {
                current = current.Flatten(background: [255.0]);
                owned.Add(current);
            }

            if (current.Interpretation is not (Enums.Interpretation.Srgb or Enums.Interpretation.Rgb or Enums.Interpretation.Bw or Enums.Interpretation.Bw))
            {
                current = current.Colourspace(Enums.Interpretation.Srgb);
                owned.Add(current);
            }

            if (current.Format != Enums.BandFormat.Uchar)
            {
                current = current.Cast(Enums.BandFormat.Uchar);
                owned.Add(current);
            }

            if (current.Bands == 1)
            {
                current = current.Bandjoin(current, current);
                owned.Add(current);
            }
            else if (current.Bands > 3)
            {
                current = current.ExtractBand(0, 3);
                owned.Add(current);
            }

            return (current.WriteToMemory<byte>(), current.Width, current.Height);
        }
        finally
        {
            foreach (Image o in owned)
            {
                o.Dispose();
            }
        }
    }

    /// <summary>
    /// Text drawn black on white into a frame of <paramref name="size"/>² (SkiaSharp, word-wrapped, the largest size that
    /// fits). Refuses to return a blank frame: when no font is available the drawing would be empty.
    /// </summary>
    public static VideoFrame RenderText(string text, int size, int renderSize = 448)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        try
        {
            return RenderTextCore(text, size, renderSize);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new VideoLongException($"NIAH: text needles cannot be drawn: SkiaSharp's native library did not load ({e.GetBaseException().Message}); install libfontconfig1 and fonts-dejavu-core (scripts/install-deps.sh), or use image needles.", e);
        }
    }

    /// <summary>The needle frame of <paramref name="needle"/>'s text in its font (<see cref="NiahNeedle.Font"/>).</summary>
    public static VideoFrame RenderText(NiahNeedle needle, int size)
    {
        ArgumentNullException.ThrowIfNull(needle);
        return needle.Font is "glyphs" ? RenderGlyphs(needle.Text!, size) : RenderText(needle.Text!, size);
    }

    /// <summary>
    /// <paramref name="text"/> in the 5×7 bitmap font of VideoLong-Tiny's synthetic videos, yellow on a dark frame of
    /// <paramref name="size"/>², centred, at the largest integer scale that fits and at most ⌊size/21⌋ (3 at 64², the
    /// training data's scale).
    /// </summary>
    public static VideoFrame RenderGlyphs(string text, int size)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        int scale = Math.Max(1, size / 21);
        while (scale > 1 && (Training.Glyphs.TextWidth(text, scale) > size - 4 || (Training.Glyphs.Height * scale) > size - 4))
        {
            scale--;
        }

        if (Training.Glyphs.TextWidth(text, scale) > size)
        {
            throw new VideoLongException($"NIAH: the text '{text}' does not fit a {size}² frame in the 5×7 glyph font; use a shorter text.");
        }

        byte[] rgb = new byte[size * size * 3];
        for (int i = 0; i < rgb.Length; i += 3)
        {
            (rgb[i], rgb[i + 1], rgb[i + 2]) = ((byte)24, (byte)22, (byte)30);
        }

        int x0 = (size - Training.Glyphs.TextWidth(text, scale)) / 2, y0 = (size - (Training.Glyphs.Height * scale)) / 2;
        for (int c = 0; c < text.Length; c++)
        {
            for (int py = 0; py < Training.Glyphs.Height * scale; py++)
            {
                for (int px = 0; px < Training.Glyphs.Width * scale; px++)
                {
                    if (Training.Glyphs.IsSet(text[c], px / scale, py / scale))
                    {
                        int o = (((y0 + py) * size) + x0 + (c * (Training.Glyphs.Width + 1) * scale) + px) * 3;
                        (rgb[o], rgb[o + 1], rgb[o + 2]) = ((byte)235, (byte)220, (byte)40);
                    }
                }
            }
        }

        return Make(rgb, size, 0, 0);
    }

    private static VideoFrame RenderTextCore(string text, int size, int renderSize)
    {
        var info = new SKImageInfo(renderSize, renderSize, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using SKTypeface typeface = SKTypeface.FromFamilyName("DejaVu Sans", SKFontStyle.Bold) ?? SKTypeface.Default;
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            float margin = renderSize * 0.06f;
            float fontSize = renderSize / 6f;
            List<string> lines;
            SKFont font;
            while (true)
            {
                font = new SKFont(typeface, fontSize);
                lines = Wrap(text, font, renderSize - (2 * margin));
                float height = lines.Count * fontSize * 1.2f;
                if ((height <= renderSize - (2 * margin) && lines.All(l => font.MeasureText(l) <= renderSize - (2 * margin))) || fontSize <= 8)
                {
                    break;
                }

                font.Dispose();
                fontSize *= 0.9f;
            }

            using (font)
            {
                float total = lines.Count * fontSize * 1.2f;
                float y = ((renderSize - total) / 2) + fontSize;
                foreach (string line in lines)
                {
                    float width = font.MeasureText(line);
                    canvas.DrawText(line, (renderSize - width) / 2, y, SKTextAlign.Left, font, paint);
                    y += fontSize * 1.2f;
                }
            }
        }

        byte[] rgba = bitmap.Bytes;
        byte[] rgb = new byte[renderSize * renderSize * 3];
        bool drawn = false;
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = rgba[j];
            rgb[i + 1] = rgba[j + 1];
            rgb[i + 2] = rgba[j + 2];
            drawn |= rgba[j] < 128;
        }

        if (!drawn)
        {
            throw new VideoLongException("NIAH: text needles cannot be drawn: no font was found (install fonts-dejavu-core and libfontconfig1, e.g. bash scripts/install-deps.sh).");
        }

        return FromRgb(rgb, renderSize, renderSize, size);
    }

    private static List<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        foreach (string paragraph in text.ReplaceLineEndings("\n").Split('\n'))
        {
            string line = "";
            foreach (string word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string candidate = line.Length == 0 ? word : $"{line} {word}";
                if (line.Length > 0 && font.MeasureText(candidate) > width)
                {
                    lines.Add(line);
                    line = word;
                }
                else
                {
                    line = candidate;
                }
            }

            lines.Add(line);
        }

        return lines;
    }

    private static VideoFrame Make(byte[] pixels, int size, int index, double seconds) => new()
    {
        SampleIndex = index,
        FrameIndex = index,
        RequestedSeconds = seconds,
        PtsSeconds = seconds,
        DurationSeconds = 0,
        IsKeyframe = true,
        Width = size,
        Height = size,
        Rgb24 = pixels,
    };

    private static string VideoLongCliText(string message) => message.ReplaceLineEndings(" ").Trim();
}
