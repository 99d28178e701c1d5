using NetVips;

namespace VideoLong.Ingest.Images;

/// <summary>
/// Pixels of one rectangle of an image as RGB24: 8-bit R, G, B interleaved, rows top to bottom (HWC, no row padding),
/// so the sample of channel <c>c</c> at (<c>x</c>, <c>y</c>) inside the box is <c>Pixels[(y * Width + x) * 3 + c]</c>.
/// </summary>
/// <remarks>
/// <see cref="Box"/> is the requested rectangle in image coordinates. <see cref="Valid"/> is the part of it that holds
/// image pixels; everything outside <see cref="Valid"/> is zero (black). The two are equal except for regions read
/// through a <see cref="GridCell"/> whose box extends past the gridded area (<see cref="GridEdgePolicy.Pad"/>), and
/// <see cref="Valid"/> is <c>null</c> only for a <see cref="Slice"/> that lies entirely in padding.
/// </remarks>
public sealed record ImageRegion
{
    /// <summary>Number of interleaved channels (R, G, B).</summary>
    public const int Channels = 3;

    /// <exception cref="ArgumentException"><paramref name="valid"/> is not inside <paramref name="box"/>, or the buffer size is not Width × Height × 3.</exception>
    public ImageRegion(PixelBox box, PixelBox? valid, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (box.IsEmpty)
        {
            throw new ArgumentException("The box of a region must have a positive width and height.", nameof(box));
        }

        if (valid is { } part && !box.Contains(part))
        {
            throw new ArgumentException($"The valid part {valid} must lie inside the box {box}.", nameof(valid));
        }

        long expected = box.Area * Channels;
        if (pixels.LongLength != expected)
        {
            throw new ArgumentException(
                $"A {box.Width}×{box.Height} RGB24 region needs {expected} bytes, got {pixels.LongLength}.", nameof(pixels));
        }

        Box = box;
        Valid = valid;
        Pixels = pixels;
    }

    /// <summary>The rectangle this region covers, in image coordinates.</summary>
    public PixelBox Box { get; }

    /// <summary>The part of <see cref="Box"/> holding image pixels (image coordinates); the rest is zeros. Null when all of it is padding.</summary>
    public PixelBox? Valid { get; }

    /// <summary>RGB24 interleaved bytes, HWC, <c>Height * Stride</c> long.</summary>
    public byte[] Pixels { get; }

    public int Width => Box.Width;

    public int Height => Box.Height;

    /// <summary>Bytes per row: <c>Width * 3</c>.</summary>
    public int Stride => Box.Width * Channels;

    /// <summary>True when part of the box is zero padding rather than image pixels.</summary>
    public bool IsPadded => Valid != Box;

    /// <summary>The three samples of the pixel at image coordinates (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public (byte R, byte G, byte B) PixelAt(int x, int y)
    {
        if (x < Box.X || x >= Box.Right || y < Box.Y || y >= Box.Bottom)
        {
            throw new ArgumentOutOfRangeException(nameof(x), $"Pixel ({x}, {y}) is outside the region {Box}.");
        }

        int offset = ((y - Box.Y) * Box.Width + (x - Box.X)) * Channels;
        return (Pixels[offset], Pixels[offset + 1], Pixels[offset + 2]);
    }

    /// <summary>
    /// Copies the part <paramref name="box"/> (image coordinates, inside <see cref="Box"/>) out of this region, for
    /// example a <see cref="GridChunk"/> of the <see cref="GridCell"/> this region was read for.
    /// </summary>
    /// <exception cref="RegionOutOfBoundsException"><paramref name="box"/> is not inside <see cref="Box"/>.</exception>
    public ImageRegion Slice(PixelBox box)
    {
        if (!Box.Contains(box))
        {
            throw new RegionOutOfBoundsException(
                $"Slice {box} (x,y,w,h) is not inside the region {Box}: x must be in [{Box.X}, {Box.Right - 1}], " +
                $"y in [{Box.Y}, {Box.Bottom - 1}], x + w ≤ {Box.Right} and y + h ≤ {Box.Bottom}.");
        }

        var pixels = new byte[box.Area * Channels];
        int rowBytes = box.Width * Channels;
        for (int row = 0; row < box.Height; row++)
        {
            int source = ((box.Y - Box.Y + row) * Box.Width + (box.X - Box.X)) * Channels;
            Buffer.BlockCopy(Pixels, source, pixels, row * rowBytes, rowBytes);
        }

        // The valid part of a slice is what it shares with this region's valid part (null: all padding).
        PixelBox? valid = Valid is { } part ? box.Intersect(part) : null;
        return new ImageRegion(box, valid, pixels);
    }

    /// <summary>
    /// Writes the region as an 8-bit RGB PNG (padding included). The file is written next to <paramref name="path"/>
    /// under a temporary name and then moved into place, so a crash never leaves a truncated PNG at <paramref name="path"/>.
    /// </summary>
    /// <param name="path">Destination file; its folder must exist. An existing file is replaced.</param>
    /// <param name="compression">zlib level 0 (fastest) to 9 (smallest); 6 is libpng's default.</param>
    public void SavePng(string path, int compression = 6)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfNegative(compression);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(compression, 9);
        string full = System.IO.Path.GetFullPath(path);
        string temporary = full + ".partial";
        VipsRuntime.EnsureConfigured();
        try
        {
            using Image raw = Image.NewFromMemory(Pixels, Width, Height, Channels, Enums.BandFormat.Uchar);
            using Image rgb = raw.Copy(interpretation: Enums.Interpretation.Srgb);
            rgb.Pngsave(temporary, compression: compression, keep: Enums.ForeignKeep.None);
            File.Move(temporary, full, overwrite: true);
        }
        catch (VipsException e)
        {
            TryDelete(temporary);
            throw new IOException($"Writing PNG '{path}' failed: {VipsRuntime.Describe(e)}", e);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
