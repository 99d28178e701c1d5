using System.Buffers.Binary;
using System.Text;
using NetVips;
using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

/// <summary>A temporary folder for generated media, deleted on disposal.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "videolong-images-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Generates small test images with known pixels, and decodes files independently of <see cref="LargeImage"/>.</summary>
internal static class TestImages
{
    /// <summary>Deterministic 8-bit noise, Width × Height × bands bytes, interleaved.</summary>
    public static byte[] Noise(int width, int height, int bands, int seed)
    {
        var bytes = new byte[width * height * bands];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A NetVips image over <paramref name="pixels"/> (8-bit, interleaved) with the given interpretation.</summary>
    public static Image ToVips(byte[] pixels, int width, int height, int bands, Enums.Interpretation? interpretation = null)
    {
        using Image raw = Image.NewFromMemory(pixels, width, height, bands, Enums.BandFormat.Uchar);
        return raw.Copy(interpretation: interpretation ?? (bands <= 2 ? Enums.Interpretation.Bw : Enums.Interpretation.Srgb));
    }

    /// <summary>A 16-bit image whose samples are <paramref name="samples"/> (Width × Height × bands, interleaved).</summary>
    public static Image ToVips16(ushort[] samples, int width, int height, int bands)
    {
        using Image raw = Image.NewFromMemory(samples, width, height, bands, Enums.BandFormat.Ushort);
        return raw.Copy(interpretation: bands <= 2 ? Enums.Interpretation.Grey16 : Enums.Interpretation.Rgb16);
    }

    /// <summary>Decodes a whole file with libvips directly and returns its samples as stored (no conversion).</summary>
    public static byte[] DecodeWhole(string path, out int bands)
    {
        using Image image = Image.NewFromFile(path, access: Enums.Access.Random);
        bands = image.Bands;
        return image.WriteToMemory<byte>();
    }

    /// <summary>The RGB24 bytes of <paramref name="box"/> cut from an interleaved RGB buffer of the given width.</summary>
    public static byte[] CropRgb(byte[] rgb, int width, PixelBox box)
    {
        var result = new byte[box.Width * box.Height * 3];
        for (int row = 0; row < box.Height; row++)
        {
            Array.Copy(rgb, (((box.Y + row) * width) + box.X) * 3, result, row * box.Width * 3, box.Width * 3);
        }

        return result;
    }

    /// <summary>Expands 1-band grey to RGB24 by copying the sample into R, G and B.</summary>
    public static byte[] GreyToRgb(byte[] grey) => grey.SelectMany(v => new[] { v, v, v }).ToArray();

    /// <summary>
    /// A PNG whose IHDR claims <paramref name="width"/> × <paramref name="height"/> 8-bit RGB pixels, with valid CRCs,
    /// followed by a tiny IDAT and IEND: the header parses, the pixels do not exist.
    /// </summary>
    public static byte[] PngWithClaimedSize(uint width, uint height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type RGB
        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(png, "IHDR", ihdr);
        WriteChunk(png, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        stream.Write(word);
        byte[] typeAndData = [.. Encoding.ASCII.GetBytes(type), .. data];
        stream.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        stream.Write(word);
    }

    /// <summary>CRC-32 (ISO-HDLC, polynomial 0xEDB88320) as PNG uses it.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
