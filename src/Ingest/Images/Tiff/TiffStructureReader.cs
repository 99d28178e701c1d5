using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace VideoLong.Ingest.Images;

/// <summary>What <see cref="TiffStructureReader"/> learns from a TIFF's directories, before any pixel is decoded.</summary>
internal sealed class TiffStructure
{
    public required bool IsBigTiff { get; init; }

    public required bool IsLittleEndian { get; init; }

    /// <summary>ImageWidth of the first IFD (may exceed <see cref="int.MaxValue"/> in a hostile file; checked by the caller).</summary>
    public required long Width { get; init; }

    /// <summary>ImageLength of the first IFD.</summary>
    public required long Height { get; init; }

    public int? TileWidth { get; init; }

    public int? TileHeight { get; init; }

    public bool IsTiled => TileWidth is not null;

    /// <summary>Full resolution first, then each reduced-resolution level (SubIFDs, or following IFDs) that is strictly smaller.</summary>
    public required IReadOnlyList<ImageLevel> Levels { get; init; }

    /// <summary>Number of SubIFDs attached to the first IFD (tag 330).</summary>
    public int SubIfdCount { get; init; }

    public required GeoTiffTags GeoTags { get; init; }
}

/// <summary>The raw GeoTIFF tags of the first IFD, each null when absent.</summary>
internal sealed record GeoTiffTags(double[]? PixelScale, double[]? TiePoints, double[]? Transformation, ushort[]? GeoKeyDirectory)
{
    public bool IsEmpty => PixelScale is null && TiePoints is null && Transformation is null && GeoKeyDirectory is null;
}

/// <summary>
/// A small, bounded reader of TIFF image file directories (classic TIFF and BigTIFF, little- and big-endian). It reads
/// the first IFD's size, tiling, SubIFDs and GeoTIFF tags, and walks the IFD chain only as far as the pyramid goes.
/// libvips does not expose GeoTIFF tags, and checking the pixel limit here means libtiff never sees an oversized file.
/// </summary>
/// <remarks>
/// Every offset and count is checked against the file length and against fixed limits before anything is allocated,
/// so a hostile header cannot make it read out of bounds, allocate gigabytes or loop; each violation is an
/// <see cref="ImageDecodeException"/> that names the tag or offset. Tags it does not need are skipped unread.
/// </remarks>
internal sealed class TiffStructureReader : IDisposable
{
    /// <summary>Most entries accepted in one IFD (real files have a few dozen).</summary>
    public const int MaxEntriesPerIfd = 4096;

    /// <summary>Most elements accepted in one array-valued tag that is read (tie points, GeoKeys, SubIFD offsets).</summary>
    public const int MaxArrayElements = 65536;

    /// <summary>Most pyramid levels followed (a 2^64 px image halves to 1 px in 64 steps).</summary>
    public const int MaxLevels = 64;

    internal const ushort TagNewSubfileType = 254;
    internal const ushort TagImageWidth = 256;
    internal const ushort TagImageLength = 257;
    internal const ushort TagTileWidth = 322;
    internal const ushort TagTileLength = 323;
    internal const ushort TagSubIfds = 330;
    internal const ushort TagModelPixelScale = 33550;
    internal const ushort TagModelTiepoint = 33922;
    internal const ushort TagModelTransformation = 34264;
    internal const ushort TagGeoKeyDirectory = 34735;

    private const ushort TypeByte = 1;
    private const ushort TypeShort = 3;
    private const ushort TypeLong = 4;
    private const ushort TypeFloat = 11;
    private const ushort TypeDouble = 12;
    private const ushort TypeIfd = 13;
    private const ushort TypeLong8 = 16;
    private const ushort TypeIfd8 = 18;

    private readonly string _path;
    private readonly SafeFileHandle _file;
    private readonly long _length;
    private bool _littleEndian;
    private bool _bigTiff;

    private TiffStructureReader(string fullPath)
    {
        _path = fullPath;
        _file = File.OpenHandle(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        _length = RandomAccess.GetLength(_file);
    }

    /// <exception cref="ImageDecodeException">The file is not a well-formed TIFF, or claims absurd sizes.</exception>
    public static TiffStructure Read(string fullPath)
    {
        using var reader = new TiffStructureReader(fullPath);
        return reader.ReadStructure();
    }

    public void Dispose() => _file.Dispose();

    private TiffStructure ReadStructure()
    {
        Span<byte> header = stackalloc byte[16];
        if (_length < 8)
        {
            throw Corrupt($"the file is {_length} bytes, shorter than a TIFF header");
        }

        ReadExact(0, header[..(int)Math.Min(16, _length)], "the header");
        _littleEndian = header[0] == (byte)'I' && header[1] == (byte)'I';
        if (!_littleEndian && !(header[0] == (byte)'M' && header[1] == (byte)'M'))
        {
            throw Corrupt("the byte-order mark is neither 'II' nor 'MM'");
        }

        ushort version = U16(header[2..]);
        long firstIfd;
        switch (version)
        {
            case 42:
                firstIfd = U32(header[4..]);
                break;
            case 43:
                _bigTiff = true;
                if (_length < 16)
                {
                    throw Corrupt("the file is shorter than a BigTIFF header");
                }

                if (U16(header[4..]) != 8 || U16(header[6..]) != 0)
                {
                    throw Corrupt($"the BigTIFF header declares {U16(header[4..])}-byte offsets; only 8 is defined");
                }

                firstIfd = CheckedOffset(U64(header[8..]), "the first IFD offset");
                break;
            default:
                throw Corrupt($"the version number is {version}; expected 42 (TIFF) or 43 (BigTIFF)");
        }

        Ifd first = ReadIfd(firstIfd, "the first IFD");
        long width = RequireScalar(first, TagImageWidth, "ImageWidth");
        long height = RequireScalar(first, TagImageLength, "ImageLength");
        if (width <= 0 || height <= 0)
        {
            throw Corrupt($"the first IFD declares a {width}×{height} image");
        }

        long? tileWidth = OptionalScalar(first, TagTileWidth, "TileWidth");
        long? tileHeight = OptionalScalar(first, TagTileLength, "TileLength");
        if ((tileWidth is null) != (tileHeight is null))
        {
            throw Corrupt("the first IFD has only one of TileWidth and TileLength");
        }

        if (tileWidth is { } tw && tileHeight is { } th && (tw <= 0 || th <= 0 || tw > int.MaxValue || th > int.MaxValue))
        {
            throw Corrupt($"the first IFD declares {tw}×{th} tiles");
        }

        int subIfdCount = first.Entries.TryGetValue(TagSubIfds, out Entry subIfds) ? (int)Math.Min(subIfds.Count, int.MaxValue) : 0;
        IReadOnlyList<ImageLevel> levels = ReadLevels(first, width, height);

        var geo = new GeoTiffTags(
            OptionalDoubles(first, TagModelPixelScale, "ModelPixelScaleTag"),
            OptionalDoubles(first, TagModelTiepoint, "ModelTiepointTag"),
            OptionalDoubles(first, TagModelTransformation, "ModelTransformationTag"),
            OptionalShorts(first, TagGeoKeyDirectory, "GeoKeyDirectoryTag"));

        return new TiffStructure
        {
            IsBigTiff = _bigTiff,
            IsLittleEndian = _littleEndian,
            Width = width,
            Height = height,
            TileWidth = (int?)tileWidth,
            TileHeight = (int?)tileHeight,
            Levels = levels,
            SubIfdCount = subIfdCount,
            GeoTags = geo,
        };
    }

    /// <summary>
    /// Pyramid levels: the first IFD, then its SubIFDs if it has any (libvips' <c>subifd</c> layout), otherwise the
    /// following IFDs of the chain (one page per level), each kept only while strictly smaller than the one before.
    /// </summary>
    private List<ImageLevel> ReadLevels(Ifd first, long width, long height)
    {
        var levels = new List<ImageLevel> { Level(width, height) };
        var visited = new HashSet<long> { first.Offset };
        (long W, long H) previous = (width, height);

        // Adds the level if it is strictly smaller than the previous one; false ends the pyramid.
        bool TryAdd(Ifd ifd)
        {
            long w = RequireScalar(ifd, TagImageWidth, "ImageWidth");
            long h = RequireScalar(ifd, TagImageLength, "ImageLength");
            if (w <= 0 || h <= 0 || w >= previous.W || h >= previous.H)
            {
                return false;
            }

            levels.Add(Level(w, h));
            previous = (w, h);
            return true;
        }

        if (first.Entries.TryGetValue(TagSubIfds, out Entry subIfds))
        {
            foreach (ulong raw in ReadUnsigned(subIfds, "SubIFDs", MaxLevels))
            {
                long offset = CheckedOffset(raw, "a SubIFD offset");
                if (!visited.Add(offset) || !TryAdd(ReadIfd(offset, $"the SubIFD at offset {offset}")))
                {
                    break;
                }
            }

            return levels;
        }

        long next = first.Next;
        while (next != 0 && levels.Count < MaxLevels && visited.Add(next))
        {
            Ifd ifd = ReadIfd(next, $"the IFD at offset {next}");
            if (!TryAdd(ifd))
            {
                break;
            }

            next = ifd.Next;
        }

        return levels;
    }

    private static ImageLevel Level(long width, long height) =>
        new((int)Math.Min(width, int.MaxValue), (int)Math.Min(height, int.MaxValue));

    private Ifd ReadIfd(long offset, string what)
    {
        int countSize = _bigTiff ? 8 : 2;
        int entrySize = _bigTiff ? 20 : 12;
        int nextSize = _bigTiff ? 8 : 4;
        if (offset < (_bigTiff ? 16 : 8) || offset > _length - countSize)
        {
            throw Corrupt($"{what} starts at offset {offset}, outside the file ({_length} bytes)");
        }

        Span<byte> countBytes = stackalloc byte[8];
        ReadExact(offset, countBytes[..countSize], what);
        ulong count = _bigTiff ? U64(countBytes) : U16(countBytes);
        if (count == 0 || count > MaxEntriesPerIfd)
        {
            throw Corrupt($"{what} claims {count} entries (accepted: 1 to {MaxEntriesPerIfd})");
        }

        long tableStart = offset + countSize;
        long tableLength = (long)count * entrySize;
        if (tableStart + tableLength > _length)
        {
            throw Corrupt($"{what} has {count} entries that run past the end of the file");
        }

        var table = new byte[tableLength];
        ReadExact(tableStart, table, what);
        var entries = new Dictionary<ushort, Entry>();
        for (int i = 0; i < (int)count; i++)
        {
            ReadOnlySpan<byte> raw = table.AsSpan(i * entrySize, entrySize);
            ushort tag = U16(raw);
            ushort type = U16(raw[2..]);
            ulong elements = _bigTiff ? U64(raw[4..]) : U32(raw[4..]);
            int valueField = _bigTiff ? 12 : 8;
            int elementSize = ElementSize(type);
            if (elementSize == 0 || entries.ContainsKey(tag))
            {
                continue; // unknown field types are skipped, as the TIFF 6.0 spec asks; libtiff keeps the first of duplicate tags
            }

            // The value sits in the entry itself when it fits there, otherwise at the offset the entry holds.
            bool inline = elements <= (ulong)((_bigTiff ? 8 : 4) / elementSize);
            long position = inline
                ? tableStart + (i * entrySize) + valueField
                : (long)Math.Min(_bigTiff ? U64(raw[valueField..]) : U32(raw[valueField..]), long.MaxValue);
            entries[tag] = new Entry(tag, type, elements, position, elementSize);
        }

        long next = 0;
        long nextAt = tableStart + tableLength;
        if (nextAt + nextSize <= _length)
        {
            Span<byte> nextBytes = stackalloc byte[8];
            ReadExact(nextAt, nextBytes[..nextSize], what);
            ulong raw = _bigTiff ? U64(nextBytes) : U32(nextBytes);
            next = raw == 0 ? 0 : CheckedOffset(raw, $"the offset of the IFD after {what}");
        }

        return new Ifd(offset, entries, next);
    }

    private long RequireScalar(Ifd ifd, ushort tag, string name) =>
        OptionalScalar(ifd, tag, name) ?? throw Corrupt($"the IFD at offset {ifd.Offset} has no {name} (tag {tag})");

    private long? OptionalScalar(Ifd ifd, ushort tag, string name)
    {
        if (!ifd.Entries.TryGetValue(tag, out Entry entry))
        {
            return null;
        }

        if (entry.Count == 0)
        {
            throw Corrupt($"{name} (tag {tag}) has no value");
        }

        ulong value = ReadUnsigned(entry, name, 1)[0];
        return value > long.MaxValue ? throw Corrupt($"{name} (tag {tag}) is {value}") : (long)value;
    }

    private ulong[] ReadUnsigned(Entry entry, string name, int maxElements)
    {
        if (entry.Type is not (TypeByte or TypeShort or TypeLong or TypeLong8 or TypeIfd or TypeIfd8))
        {
            throw Corrupt($"{name} (tag {entry.Tag}) has field type {entry.Type}; expected an unsigned integer type");
        }

        int n = (int)Math.Min(entry.Count, (ulong)maxElements);
        byte[] bytes = ReadPayload(entry, n, name);
        var values = new ulong[n];
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> at = bytes.AsSpan(i * entry.ElementSize);
            values[i] = entry.ElementSize switch
            {
                1 => at[0],
                2 => U16(at),
                4 => U32(at),
                _ => U64(at),
            };
        }

        return values;
    }

    private double[]? OptionalDoubles(Ifd ifd, ushort tag, string name)
    {
        if (!ifd.Entries.TryGetValue(tag, out Entry entry))
        {
            return null;
        }

        if (entry.Type is not (TypeDouble or TypeFloat))
        {
            throw Corrupt($"{name} (tag {tag}) has field type {entry.Type}; GeoTIFF requires DOUBLE (12)");
        }

        int n = RequireCount(entry, name);
        byte[] bytes = ReadPayload(entry, n, name);
        var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = entry.Type == TypeDouble
                ? (_littleEndian ? BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(i * 8)) : BinaryPrimitives.ReadDoubleBigEndian(bytes.AsSpan(i * 8)))
                : (_littleEndian ? BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4)) : BinaryPrimitives.ReadSingleBigEndian(bytes.AsSpan(i * 4)));
        }

        return values;
    }

    private ushort[]? OptionalShorts(Ifd ifd, ushort tag, string name)
    {
        if (!ifd.Entries.TryGetValue(tag, out Entry entry))
        {
            return null;
        }

        if (entry.Type != TypeShort)
        {
            throw Corrupt($"{name} (tag {tag}) has field type {entry.Type}; GeoTIFF requires SHORT (3)");
        }

        int n = RequireCount(entry, name);
        byte[] bytes = ReadPayload(entry, n, name);
        var values = new ushort[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = U16(bytes.AsSpan(i * 2));
        }

        return values;
    }

    private int RequireCount(Entry entry, string name)
    {
        if (entry.Count == 0 || entry.Count > MaxArrayElements)
        {
            throw Corrupt($"{name} (tag {entry.Tag}) claims {entry.Count} values (accepted: 1 to {MaxArrayElements})");
        }

        return (int)entry.Count;
    }

    private byte[] ReadPayload(Entry entry, int elements, string name)
    {
        long size = (long)elements * entry.ElementSize;
        if (entry.Position < 0 || entry.Position > _length - size)
        {
            throw Corrupt($"the values of {name} (tag {entry.Tag}) at offset {entry.Position} run past the end of the file ({_length} bytes)");
        }

        var bytes = new byte[size];
        ReadExact(entry.Position, bytes, name);
        return bytes;
    }

    private long CheckedOffset(ulong offset, string what) =>
        offset >= (ulong)_length ? throw Corrupt($"{what} ({offset}) is outside the file ({_length} bytes)") : (long)offset;

    private void ReadExact(long offset, Span<byte> destination, string what)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int read = RandomAccess.Read(_file, destination[done..], offset + done);
            if (read == 0)
            {
                throw Corrupt($"{what} is truncated at offset {offset + done}");
            }

            done += read;
        }
    }

    private static int ElementSize(ushort type) => type switch
    {
        1 or 2 or 6 or 7 => 1,   // BYTE, ASCII, SBYTE, UNDEFINED
        3 or 8 => 2,             // SHORT, SSHORT
        4 or 9 or 11 or 13 => 4, // LONG, SLONG, FLOAT, IFD
        5 or 10 or 12 => 8,      // RATIONAL, SRATIONAL, DOUBLE
        16 or 17 or 18 => 8,     // LONG8, SLONG8, IFD8 (BigTIFF)
        _ => 0,
    };

    private ushort U16(ReadOnlySpan<byte> b) =>
        _littleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b);

    private uint U32(ReadOnlySpan<byte> b) =>
        _littleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);

    private ulong U64(ReadOnlySpan<byte> b) =>
        _littleEndian ? BinaryPrimitives.ReadUInt64LittleEndian(b) : BinaryPrimitives.ReadUInt64BigEndian(b);

    private ImageDecodeException Corrupt(string detail) =>
        new(_path, $"'{_path}' is not a valid {(_bigTiff ? "BigTIFF" : "TIFF")} file: {detail}.");

    private readonly record struct Entry(ushort Tag, ushort Type, ulong Count, long Position, int ElementSize);

    private sealed record Ifd(long Offset, Dictionary<ushort, Entry> Entries, long Next);
}
