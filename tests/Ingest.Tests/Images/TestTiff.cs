using System.Buffers.Binary;
using System.IO.Compression;

namespace VideoLong.Ingest.Tests.Images;

/// <summary>An extra TIFF tag for <see cref="TestTiff"/>: values are ushort[] (SHORT), uint[] (LONG), ulong[] (LONG8), float[] (FLOAT) or double[] (DOUBLE).</summary>
/// <param name="DeclaredCount">Count written into the entry instead of the real one (to forge absurd headers).</param>
internal sealed record TiffTag(ushort Id, Array Values, ulong? DeclaredCount = null);

/// <summary>
/// A minimal TIFF writer for tests: 8-bit grey or RGB, strips or square tiles, uncompressed or deflate, classic or
/// BigTIFF, little- or big-endian, with arbitrary extra tags (GeoTIFF) and hooks to damage the pixel data.
/// Layout: header, pixel blocks, first IFD, out-of-line tag values.
/// </summary>
internal sealed class TestTiff
{
    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>1 (grey) or 3 (RGB).</summary>
    public int Samples { get; init; } = 3;

    /// <summary>Width × Height × Samples bytes, interleaved; defaults to <see cref="TestImages.Noise"/>.</summary>
    public byte[]? Pixels { get; init; }

    public bool BigTiff { get; init; }

    public bool BigEndian { get; init; }

    /// <summary>Square tile side (a multiple of 16); null writes strips.</summary>
    public int? TileSize { get; init; }

    public int RowsPerStrip { get; init; } = 8;

    public bool Deflate { get; init; }

    /// <summary>Replaces the encoded bytes of a block (strip or tile, by index) before they are written.</summary>
    public Func<int, byte[], byte[]>? TamperBlock { get; init; }

    public List<TiffTag> ExtraTags { get; init; } = [];

    public byte[] PixelData => Pixels ?? TestImages.Noise(Width, Height, Samples, seed: 7);

    public string WriteTo(string path)
    {
        File.WriteAllBytes(path, Build());
        return path;
    }

    public byte[] Build()
    {
        byte[] pixels = PixelData;
        List<byte[]> blocks = TileSize is { } tile ? CutTiles(pixels, tile) : CutStrips(pixels);
        for (int i = 0; i < blocks.Count; i++)
        {
            byte[] encoded = Deflate ? Compress(blocks[i]) : blocks[i];
            blocks[i] = TamperBlock?.Invoke(i, encoded) ?? encoded;
        }

        var output = new MemoryStream();
        output.Write(new byte[BigTiff ? 16 : 8]); // header, filled in below
        var offsets = new ulong[blocks.Count];
        var counts = new ulong[blocks.Count];
        for (int i = 0; i < blocks.Count; i++)
        {
            offsets[i] = (ulong)output.Position;
            counts[i] = (ulong)blocks[i].Length;
            output.Write(blocks[i]);
        }

        if (output.Position % 2 == 1)
        {
            output.WriteByte(0);
        }

        var tags = new List<TiffTag>
        {
            new(256, new uint[] { (uint)Width }),
            new(257, new uint[] { (uint)Height }),
            new(258, Enumerable.Repeat((ushort)8, Samples).ToArray()),
            new(259, new ushort[] { (ushort)(Deflate ? 8 : 1) }),
            new(262, new ushort[] { (ushort)(Samples == 1 ? 1 : 2) }),
            new(TileSize is null ? (ushort)273 : (ushort)324, BigTiff ? offsets : offsets.Select(o => (uint)o).ToArray()),
            new(277, new ushort[] { (ushort)Samples }),
            new(TileSize is null ? (ushort)279 : (ushort)325, BigTiff ? counts : counts.Select(c => (uint)c).ToArray()),
            new(284, new ushort[] { 1 }),
        };
        if (TileSize is { } side)
        {
            tags.Add(new TiffTag(322, new uint[] { (uint)side }));
            tags.Add(new TiffTag(323, new uint[] { (uint)side }));
        }
        else
        {
            tags.Add(new TiffTag(278, new uint[] { (uint)RowsPerStrip }));
        }

        tags.AddRange(ExtraTags);
        tags.Sort((a, b) => a.Id.CompareTo(b.Id));

        long ifdOffset = output.Position;
        int entrySize = BigTiff ? 20 : 12;
        int inlineSize = BigTiff ? 8 : 4;
        long dataOffset = ifdOffset + (BigTiff ? 8 : 2) + ((long)tags.Count * entrySize) + (BigTiff ? 8 : 4);
        var ifd = new MemoryStream();
        var data = new MemoryStream();
        WriteUnsigned(ifd, (ulong)tags.Count, BigTiff ? 8 : 2);
        foreach (TiffTag tag in tags)
        {
            (ushort type, byte[] payload) = Encode(tag.Values);
            WriteUnsigned(ifd, tag.Id, 2);
            WriteUnsigned(ifd, type, 2);
            WriteUnsigned(ifd, tag.DeclaredCount ?? (ulong)tag.Values.Length, BigTiff ? 8 : 4);
            if (payload.Length <= inlineSize)
            {
                ifd.Write(payload);
                ifd.Write(new byte[inlineSize - payload.Length]);
            }
            else
            {
                WriteUnsigned(ifd, (ulong)(dataOffset + data.Position), inlineSize);
                data.Write(payload);
                if (data.Position % 2 == 1)
                {
                    data.WriteByte(0);
                }
            }
        }

        WriteUnsigned(ifd, 0, BigTiff ? 8 : 4); // no next IFD
        output.Write(ifd.ToArray());
        output.Write(data.ToArray());

        byte[] file = output.ToArray();
        file[0] = file[1] = (byte)(BigEndian ? 'M' : 'I');
        var header = new MemoryStream();
        WriteUnsigned(header, BigTiff ? 43UL : 42UL, 2);
        if (BigTiff)
        {
            WriteUnsigned(header, 8, 2);
            WriteUnsigned(header, 0, 2);
            WriteUnsigned(header, (ulong)ifdOffset, 8);
        }
        else
        {
            WriteUnsigned(header, (ulong)ifdOffset, 4);
        }

        header.ToArray().CopyTo(file, 2);
        return file;
    }

    private List<byte[]> CutStrips(byte[] pixels)
    {
        var strips = new List<byte[]>();
        int rowBytes = Width * Samples;
        for (int y = 0; y < Height; y += RowsPerStrip)
        {
            int rows = Math.Min(RowsPerStrip, Height - y);
            strips.Add(pixels.AsSpan(y * rowBytes, rows * rowBytes).ToArray());
        }

        return strips;
    }

    private List<byte[]> CutTiles(byte[] pixels, int side)
    {
        var tiles = new List<byte[]>();
        for (int ty = 0; ty < Height; ty += side)
        {
            for (int tx = 0; tx < Width; tx += side)
            {
                var tile = new byte[side * side * Samples]; // edge tiles are padded with zeros
                for (int row = 0; row < side && ty + row < Height; row++)
                {
                    int columns = Math.Min(side, Width - tx);
                    Array.Copy(pixels, (((ty + row) * Width) + tx) * Samples, tile, row * side * Samples, columns * Samples);
                }

                tiles.Add(tile);
            }
        }

        return tiles;
    }

    private static byte[] Compress(byte[] raw)
    {
        var buffer = new MemoryStream();
        using (var zlib = new ZLibStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(raw);
        }

        return buffer.ToArray();
    }

    private (ushort Type, byte[] Payload) Encode(Array values)
    {
        switch (values)
        {
            case ushort[] shorts:
            {
                var b = new byte[shorts.Length * 2];
                for (int i = 0; i < shorts.Length; i++)
                {
                    Put(b.AsSpan(i * 2), shorts[i], 2);
                }

                return (3, b);
            }

            case uint[] longs:
            {
                var b = new byte[longs.Length * 4];
                for (int i = 0; i < longs.Length; i++)
                {
                    Put(b.AsSpan(i * 4), longs[i], 4);
                }

                return (4, b);
            }

            case ulong[] long8s:
            {
                var b = new byte[long8s.Length * 8];
                for (int i = 0; i < long8s.Length; i++)
                {
                    Put(b.AsSpan(i * 8), long8s[i], 8);
                }

                return (16, b);
            }

            case float[] floats:
            {
                var b = new byte[floats.Length * 4];
                for (int i = 0; i < floats.Length; i++)
                {
                    Put(b.AsSpan(i * 4), BitConverter.SingleToUInt32Bits(floats[i]), 4);
                }

                return (11, b);
            }

            case double[] doubles:
            {
                var b = new byte[doubles.Length * 8];
                for (int i = 0; i < doubles.Length; i++)
                {
                    Put(b.AsSpan(i * 8), BitConverter.DoubleToUInt64Bits(doubles[i]), 8);
                }

                return (12, b);
            }

            default:
                throw new ArgumentException($"Unsupported tag value type {values.GetType()}.");
        }
    }

    private void WriteUnsigned(Stream stream, ulong value, int size)
    {
        Span<byte> b = stackalloc byte[8];
        Put(b, value, size);
        stream.Write(b[..size]);
    }

    private void Put(Span<byte> b, ulong value, int size)
    {
        switch (size)
        {
            case 2:
                if (BigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)value); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)value);
                break;
            case 4:
                if (BigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, (uint)value); else BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)value);
                break;
            default:
                if (BigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, value); else BinaryPrimitives.WriteUInt64LittleEndian(b, value);
                break;
        }
    }
}
