namespace VideoLong.Ingest.Images;

/// <summary>The file formats <see cref="LargeImage"/> accepts, recognised by their leading bytes (never by the file name).</summary>
public enum ImageContainer
{
    Jpeg,
    Png,
    WebP,

    /// <summary>Classic TIFF (32-bit offsets, files up to 4 GiB).</summary>
    Tiff,

    /// <summary>BigTIFF (64-bit offsets).</summary>
    BigTiff,
}

/// <summary>Recognises an <see cref="ImageContainer"/> from the first bytes of a file.</summary>
internal static class ImageContainerSniffer
{
    public const string AcceptedFormats = "JPEG, PNG, WebP, TIFF and BigTIFF (tiled or in strips, optionally pyramidal)";

    private const int SniffLength = 16;

    /// <exception cref="ImageDecodeException">The file does not start like an accepted format.</exception>
    public static ImageContainer Sniff(string fullPath)
    {
        Span<byte> head = stackalloc byte[SniffLength];
        int length;
        using (FileStream stream = new(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1))
        {
            length = stream.ReadAtLeast(head, SniffLength, throwOnEndOfStream: false);
        }

        ReadOnlySpan<byte> bytes = head[..length];
        ImageContainer? container = Recognise(bytes);
        if (container is { } known)
        {
            return known;
        }

        string? other = NameOtherFormat(bytes);
        string what = other is null
            ? $"is not an image in an accepted format (it starts with bytes {Convert.ToHexString(bytes[..Math.Min(8, length)])})"
            : $"is a {other} file, which is not accepted";
        throw new ImageDecodeException(fullPath, $"'{fullPath}' {what}. Accepted formats: {AcceptedFormats}; the format is recognised from the file's content, not its name.");
    }

    internal static ImageContainer? Recognise(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        {
            return ImageContainer.Jpeg;
        }

        if (b.Length >= 8 && b[..8].SequenceEqual(PngSignature))
        {
            return ImageContainer.Png;
        }

        if (b.Length >= 12 && b[..4].SequenceEqual("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8))
        {
            return ImageContainer.WebP;
        }

        if (b.Length >= 4)
        {
            bool little = b[0] == (byte)'I' && b[1] == (byte)'I';
            bool big = b[0] == (byte)'M' && b[1] == (byte)'M';
            if (little || big)
            {
                int version = little ? b[2] | (b[3] << 8) : (b[2] << 8) | b[3];
                if (version == 42)
                {
                    return ImageContainer.Tiff;
                }

                if (version == 43)
                {
                    return ImageContainer.BigTiff;
                }
            }
        }

        return null;
    }

    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static string? NameOtherFormat(ReadOnlySpan<byte> b)
    {
        if (b.StartsWith("GIF8"u8))
        {
            return "GIF";
        }

        if (b.StartsWith("BM"u8))
        {
            return "BMP";
        }

        if (b.StartsWith("%PDF"u8))
        {
            return "PDF";
        }

        if (b.Length >= 12 && b[4..8].SequenceEqual("ftyp"u8))
        {
            return "HEIF/AVIF (or MP4)";
        }

        if (b.Length >= 12 && b[..12].SequenceEqual((ReadOnlySpan<byte>)[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]))
        {
            return "JPEG 2000";
        }

        return null;
    }
}
