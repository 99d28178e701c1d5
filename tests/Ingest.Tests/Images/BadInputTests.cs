using System.Buffers.Binary;
using NetVips;
using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_an_image_file_is_bad : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_missing_file_is_refused_as_not_found()
    {
        var error = Assert.Throws<MediaNotFoundException>(() => LargeImage.Open(_folder.File("absent.tif")));

        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_is_refused_as_not_found()
    {
        var error = Assert.Throws<MediaNotFoundException>(() => LargeImage.Open(_folder.Path));

        Assert.Contains("directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_refused_as_invalid_media()
    {
        File.WriteAllBytes(_folder.File("empty.png"), []);

        var error = Assert.Throws<InvalidMediaException>(() => LargeImage.Open(_folder.File("empty.png")));

        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_bytes_named_png_are_not_an_image()
    {
        string path = _folder.File("random.png");
        File.WriteAllBytes(path, TestImages.Noise(1000, 1, 1, seed: 30));

        var error = Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));

        Assert.Equal(path, error.Path);
        Assert.Contains("not an image in an accepted format", error.Message, StringComparison.Ordinal);
        Assert.Contains("JPEG, PNG, WebP, TIFF and BigTIFF", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gif_is_named_and_refused()
    {
        string path = _folder.File("anim.gif");
        File.WriteAllBytes(path, "GIF89a\u0001\0\u0001\0\0\0\0;"u8.ToArray());

        var error = Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));

        Assert.Contains("is a GIF file, which is not accepted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_png_claiming_a_million_by_a_million_pixels_is_too_large()
    {
        string path = _folder.File("bomb.png");
        File.WriteAllBytes(path, TestImages.PngWithClaimedSize(1_000_000, 1_000_000));

        var error = Assert.Throws<ImageTooLargeException>(() => LargeImage.Open(path));

        Assert.Equal((1_000_000L, 1_000_000L), (error.Width, error.Height));
        Assert.Equal(LargeImageOptions.DefaultUntiledPixelLimit, error.PixelLimit);
        Assert.Contains("1,000,000 × 1,000,000 px", error.Message, StringComparison.Ordinal);
        Assert.Contains("268,435,456 px", error.Message, StringComparison.Ordinal);
        Assert.Contains("LargeImageOptions.UntiledPixelLimit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_png_with_a_damaged_header_is_a_decode_error()
    {
        byte[] png = TestImages.PngWithClaimedSize(10, 10);
        png[20] ^= 0xFF; // inside IHDR: its CRC no longer matches
        string path = _folder.File("bad-crc.png");
        File.WriteAllBytes(path, png);

        var error = Assert.Throws<ImageDecodeException>(() =>
        {
            using LargeImage image = LargeImage.Open(path);
            image.ReadRegion(image.Bounds);
        });

        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void A_truncated_png_fails_when_its_pixels_are_read()
    {
        string path = _folder.File("truncated.png");
        using (Image source = TestImages.ToVips(TestImages.Noise(64, 64, 3, seed: 31), 64, 64, 3))
        {
            source.Pngsave(path);
        }

        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        Assert.Throws<ImageDecodeException>(() =>
        {
            using LargeImage image = LargeImage.Open(path);
            image.ReadRegion(new PixelBox(0, 0, 64, 64));
        });
    }

    [Fact]
    public void A_strip_tiff_with_garbage_strip_data_fails_when_read()
    {
        var tiff = new TestTiff
        {
            Width = 32,
            Height = 32,
            Deflate = true,
            TamperBlock = (index, bytes) => index == 2 ? TestImages.Noise(bytes.Length, 1, 1, seed: 32) : bytes,
        };
        string path = tiff.WriteTo(_folder.File("garbage-strip.tif"));
        using LargeImage image = LargeImage.Open(path);

        var error = Assert.Throws<ImageDecodeException>(() => image.ReadRegion(image.Bounds));

        Assert.Equal(path, error.Path);
        Assert.Contains("damaged or truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tiff_whose_last_strip_lies_past_the_end_fails()
    {
        // As if the download stopped early: the last strip's offset points beyond the end of the file.
        byte[] bytes = new TestTiff { Width = 32, Height = 32, RowsPerStrip = 4 }.Build();
        string path = _folder.File("truncated.tif");
        File.WriteAllBytes(path, PointLastStripPastEnd(bytes));

        Assert.Throws<ImageDecodeException>(() =>
        {
            using LargeImage image = LargeImage.Open(path);
            image.ReadRegion(image.Bounds);
        });
    }

    [Fact]
    public void A_tiff_with_a_truncated_deflate_strip_fails()
    {
        var tiff = new TestTiff
        {
            Width = 32,
            Height = 32,
            RowsPerStrip = 8,
            Deflate = true,
            TamperBlock = (index, bytes) => index == 3 ? bytes[..(bytes.Length / 2)] : bytes,
        };
        string path = tiff.WriteTo(_folder.File("short-strip.tif"));
        using LargeImage image = LargeImage.Open(path);

        Assert.Throws<ImageDecodeException>(() => image.ReadRegion(image.Bounds));
    }

    [Fact]
    public void A_tiff_whose_first_ifd_lies_past_the_end_is_a_decode_error()
    {
        byte[] bytes = new TestTiff { Width = 8, Height = 8 }.Build();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length + 100);
        string path = _folder.File("bad-ifd.tif");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));

        Assert.Contains("outside the file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bigtiff_claiming_an_absurd_number_of_ifd_entries_is_a_decode_error()
    {
        byte[] bytes = new TestTiff { Width = 8, Height = 8, BigTiff = true }.Build();
        long ifd = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)ifd), 1UL << 40);
        string path = _folder.File("absurd.tif");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));

        Assert.Contains("claims 1099511627776 entries", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_only_tiff_is_a_decode_error()
    {
        string path = _folder.File("header-only.tif");
        File.WriteAllBytes(path, "II*\0"u8.ToArray());

        Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));
    }

    private static byte[] PointLastStripPastEnd(byte[] file)
    {
        // Find StripOffsets (273, LONG, 8 values out of line) in the little-endian IFD and move the last one.
        uint ifd = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan((int)ifd));
        for (int i = 0; i < count; i++)
        {
            int entry = (int)ifd + 2 + (i * 12);
            if (BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(entry)) == 273)
            {
                int values = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(entry + 8));
                int strips = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(entry + 4));
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(values + ((strips - 1) * 4)), (uint)file.Length + 1000);
            }
        }

        return file;
    }
}

public sealed class When_a_region_does_not_fit_the_image : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly LargeImage _image;

    public When_a_region_does_not_fit_the_image()
    {
        string path = new TestTiff { Width = 100, Height = 80, TileSize = 32 }.WriteTo(_folder.File("image.tif"));
        _image = LargeImage.Open(path);
    }

    public void Dispose()
    {
        _image.Dispose();
        _folder.Dispose();
    }

    [Theory]
    [InlineData(90, 10, 20, 20)]
    [InlineData(0, 70, 10, 11)]
    [InlineData(100, 0, 1, 1)]
    [InlineData(0, 0, 101, 80)]
    public void It_is_refused_with_the_valid_range(int x, int y, int w, int h)
    {
        var error = Assert.Throws<RegionOutOfBoundsException>(() => _image.ReadRegion(new PixelBox(x, y, w, h)));

        Assert.Contains($"Region {x},{y},{w},{h} (x,y,w,h) does not fit the 100×80 image", error.Message, StringComparison.Ordinal);
        Assert.Contains("x must be in [0, 99], y in [0, 79], x + w ≤ 100 and y + h ≤ 80", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0, 0, 10)]
    [InlineData(0, 0, 10, -1)]
    [InlineData(-1, 0, 10, 10)]
    public void A_box_with_a_negative_origin_or_non_positive_size_cannot_be_made(int x, int y, int w, int h)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PixelBox(x, y, w, h));
    }

    [Fact]
    public void A_default_box_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => _image.ReadRegion(default(PixelBox)));

        Assert.Contains("positive width and height", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_box_over_the_per_read_limit_is_refused()
    {
        using LargeImage image = LargeImage.Open(_image.Path, new LargeImageOptions { MaxRegionPixels = 100 });

        var error = Assert.Throws<ArgumentException>(() => image.ReadRegion(new PixelBox(0, 0, 11, 10)));

        Assert.Contains("110 px, over the limit of 100 px per read", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disposed_image_cannot_be_read()
    {
        LargeImage image = LargeImage.Open(_image.Path);
        image.Dispose();

        Assert.Throws<ObjectDisposedException>(() => image.ReadRegion(new PixelBox(0, 0, 1, 1)));
    }
}

public sealed class When_an_image_exceeds_the_pixel_limit : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_tiled_tiff_over_the_pixel_limit_is_refused_before_decoding()
    {
        string path = new TestTiff { Width = 64, Height = 64, TileSize = 16 }.WriteTo(_folder.File("tiled.tif"));

        var error = Assert.Throws<ImageTooLargeException>(() => LargeImage.Open(path, new LargeImageOptions { PixelLimit = 4000 }));

        Assert.Equal((64L, 64L, 4000L), (error.Width, error.Height, error.PixelLimit));
        Assert.Contains("64 × 64 px (4,096 px), over the limit of 4,000 px for tiled TIFFs", error.Message, StringComparison.Ordinal);
        Assert.Contains("raise LargeImageOptions.PixelLimit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_strip_tiff_is_held_to_the_untiled_limit()
    {
        string path = new TestTiff { Width = 64, Height = 64 }.WriteTo(_folder.File("strips.tif"));

        var error = Assert.Throws<ImageTooLargeException>(() => LargeImage.Open(path, new LargeImageOptions { UntiledPixelLimit = 4000 }));

        Assert.Contains("TIFF images in strips", error.Message, StringComparison.Ordinal);
        Assert.Contains("raise LargeImageOptions.UntiledPixelLimit", error.Message, StringComparison.Ordinal);
        Assert.Contains("--tile --pyramid --bigtiff", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tiled_tiff_is_not_held_to_the_untiled_limit()
    {
        string path = new TestTiff { Width = 64, Height = 64, TileSize = 16 }.WriteTo(_folder.File("tiled.tif"));

        using LargeImage image = LargeImage.Open(path, new LargeImageOptions { UntiledPixelLimit = 4000 });

        Assert.Equal(64, image.Width);
    }

    [Fact]
    public void A_tiled_tiff_header_claiming_too_many_pixels_never_reaches_libvips()
    {
        // ImageWidth/ImageLength patched to 200,000 × 100,000 (2e10 px): our reader refuses it first.
        byte[] bytes = new TestTiff { Width = 32, Height = 32, TileSize = 16 }.Build();
        PatchLong(bytes, 256, 200_000);
        PatchLong(bytes, 257, 100_000);
        string path = _folder.File("claims-2e10.tif");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<ImageTooLargeException>(() => LargeImage.Open(path));

        Assert.Equal(LargeImageOptions.DefaultPixelLimit, error.PixelLimit);
        Assert.Contains("20,000,000,000 px", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_limits_are_refused()
    {
        string path = new TestTiff { Width = 8, Height = 8 }.WriteTo(_folder.File("small.tif"));

        Assert.Throws<ArgumentOutOfRangeException>(() => LargeImage.Open(path, new LargeImageOptions { PixelLimit = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LargeImage.Open(path, new LargeImageOptions { MaxRegionPixels = long.MaxValue }));
    }

    private static void PatchLong(byte[] file, ushort tag, uint value)
    {
        uint ifd = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan((int)ifd));
        for (int i = 0; i < count; i++)
        {
            int entry = (int)ifd + 2 + (i * 12);
            if (BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(entry)) == tag)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(entry + 8), value);
            }
        }
    }
}

public sealed class When_decoder_warnings_are_tolerated : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_corrupt_tile_silently_reads_as_black_which_is_why_the_default_fails()
    {
        var tiff = new TestTiff
        {
            Width = 32,
            Height = 32,
            TileSize = 16,
            Deflate = true,
            TamperBlock = (index, bytes) => index == 0 ? TestImages.Noise(bytes.Length, 1, 1, seed: 33) : bytes,
        };
        string path = tiff.WriteTo(_folder.File("bad-tile.tif"));

        using (LargeImage strict = LargeImage.Open(path))
        {
            Assert.Throws<ImageDecodeException>(() => strict.ReadRegion(new PixelBox(0, 0, 16, 16)));
        }

        using LargeImage lenient = LargeImage.Open(path, new LargeImageOptions { FailOnWarning = false });
        ImageRegion region = lenient.ReadRegion(new PixelBox(0, 0, 16, 16));
        Assert.All(region.Pixels, value => Assert.Equal(0, value));
    }
}
