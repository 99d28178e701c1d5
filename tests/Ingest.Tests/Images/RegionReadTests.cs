using NetVips;
using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_a_region_is_read_from_a_png : IDisposable
{
    private const int Width = 97;
    private const int Height = 61;
    private readonly TempFolder _folder = new();
    private readonly byte[] _rgb = TestImages.Noise(Width, Height, 3, seed: 1);
    private readonly string _path;

    public When_a_region_is_read_from_a_png()
    {
        _path = _folder.File("noise.png");
        using Image image = TestImages.ToVips(_rgb, Width, Height, 3);
        image.Pngsave(_path);
    }

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void It_matches_the_source_pixels()
    {
        using LargeImage image = LargeImage.Open(_path);
        var box = new PixelBox(13, 7, 40, 30);

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal(box, region.Box);
        Assert.Equal(box, region.Valid);
        Assert.False(region.IsPadded);
        Assert.Equal((40, 30, 120), (region.Width, region.Height, region.Stride));
        Assert.Equal(TestImages.CropRgb(_rgb, Width, box), region.Pixels);
    }

    [Fact]
    public void The_whole_image_reads_as_one_region()
    {
        using LargeImage image = LargeImage.Open(_path);

        ImageRegion region = image.ReadRegion(image.Bounds);

        Assert.Equal(_rgb, region.Pixels);
    }

    [Fact]
    public void Single_pixel_regions_at_the_corners_are_exact()
    {
        using LargeImage image = LargeImage.Open(_path);

        foreach ((int x, int y) in new[] { (0, 0), (Width - 1, 0), (0, Height - 1), (Width - 1, Height - 1) })
        {
            ImageRegion region = image.ReadRegion(new PixelBox(x, y, 1, 1));
            int at = ((y * Width) + x) * 3;
            Assert.Equal(_rgb[at..(at + 3)], region.Pixels);
            Assert.Equal((_rgb[at], _rgb[at + 1], _rgb[at + 2]), region.PixelAt(x, y));
        }
    }

    [Fact]
    public void Its_header_is_reported_without_tiling_or_georeference()
    {
        using LargeImage image = LargeImage.Open(_path);

        Assert.Equal((Width, Height, 3), (image.Width, image.Height, image.Bands));
        Assert.Equal("pngload", image.Format);
        Assert.Equal(ImageContainer.Png, image.Container);
        Assert.Equal("uchar", image.SampleFormat);
        Assert.False(image.IsTiled);
        Assert.Null(image.TileWidth);
        Assert.False(image.SupportsRandomAccess);
        Assert.Equal(1, image.PageCount);
        Assert.Equal([new ImageLevel(Width, Height)], image.Levels);
        Assert.Null(image.Geo);
        Assert.Equal(Path.GetFullPath(_path), image.Path);
    }
}

public sealed class When_a_region_is_read_from_a_tiled_tiff : IDisposable
{
    private const int Width = 300;
    private const int Height = 200;
    private readonly TempFolder _folder = new();
    private readonly byte[] _rgb = TestImages.Noise(Width, Height, 3, seed: 2);

    public void Dispose() => _folder.Dispose();

    private string Save(string name, Enums.ForeignTiffCompression compression, bool bigtiff = false, bool pyramid = false, bool subifd = false)
    {
        string path = _folder.File(name);
        using Image image = TestImages.ToVips(_rgb, Width, Height, 3);
        image.Tiffsave(path, compression: compression, q: 90, tile: true, tileWidth: 64, tileHeight: 64, bigtiff: bigtiff, pyramid: pyramid, subifd: subifd);
        return path;
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, true, true)]
    public void It_matches_the_full_decode(bool bigtiff, bool pyramid, bool subifd)
    {
        string path = Save("deflate.tif", Enums.ForeignTiffCompression.Deflate, bigtiff, pyramid, subifd);
        using LargeImage image = LargeImage.Open(path);
        var box = new PixelBox(50, 40, 100, 90); // crosses tile boundaries at x = 64, 128 and y = 64, 128

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal(TestImages.CropRgb(_rgb, Width, box), region.Pixels);
        Assert.Equal(bigtiff ? ImageContainer.BigTiff : ImageContainer.Tiff, image.Container);
    }

    [Fact]
    public void It_matches_the_full_decode_with_jpeg_compressed_tiles()
    {
        string path = Save("jpeg.tif", Enums.ForeignTiffCompression.Jpeg);
        byte[] whole = TestImages.DecodeWhole(path, out int bands);
        using LargeImage image = LargeImage.Open(path);
        var box = new PixelBox(33, 70, 200, 100);

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal(3, bands);
        Assert.Equal(TestImages.CropRgb(whole, Width, box), region.Pixels);
    }

    [Fact]
    public void It_reports_its_tiles_and_random_access()
    {
        string path = Save("deflate.tif", Enums.ForeignTiffCompression.Deflate);

        using LargeImage image = LargeImage.Open(path);

        Assert.Equal("tiffload", image.Format);
        Assert.True(image.IsTiled);
        Assert.Equal((64, 64), (image.TileWidth, image.TileHeight));
        Assert.True(image.SupportsRandomAccess);
        Assert.Equal(1, image.LevelCount);
    }

    [Fact]
    public void It_decodes_only_the_tiles_under_the_region()
    {
        // 64×64 image in 16 px tiles; the last (bottom-right) tile holds garbage instead of deflate data. Regions
        // that avoid it read fine, which they could not if the whole image were decoded.
        byte[] pixels = TestImages.Noise(64, 64, 3, seed: 3);
        string path = new TestTiff
        {
            Width = 64,
            Height = 64,
            Pixels = pixels,
            TileSize = 16,
            Deflate = true,
            TamperBlock = (index, bytes) => index == 15 ? TestImages.Noise(bytes.Length, 1, 1, seed: 4) : bytes,
        }.WriteTo(_folder.File("one-bad-tile.tif"));
        using LargeImage image = LargeImage.Open(path);

        ImageRegion good = image.ReadRegion(new PixelBox(0, 0, 48, 64));

        Assert.Equal(TestImages.CropRgb(pixels, 64, new PixelBox(0, 0, 48, 64)), good.Pixels);
        var error = Assert.Throws<ImageDecodeException>(() => image.ReadRegion(new PixelBox(40, 40, 24, 24)));
        Assert.Equal(image.Path, error.Path);
        Assert.Contains("40,40,24,24", error.Message, StringComparison.Ordinal);
        Assert.Equal(good.Pixels, image.ReadRegion(new PixelBox(0, 0, 48, 64)).Pixels); // still readable after the failure
    }

    [Fact]
    public void Regions_can_be_read_from_several_threads_at_once()
    {
        var tiff = new TestTiff { Width = 128, Height = 128, TileSize = 32, Deflate = true };
        using LargeImage image = LargeImage.Open(tiff.WriteTo(_folder.File("parallel.tif")));
        RegionGrid grid = RegionGrid.Create(128, 128, 32, 32, GridOrder.Raster, GridEdgePolicy.Pad);
        GridCell[] work = [.. Enumerable.Range(0, 4).SelectMany(_ => grid.Cells)];
        var results = new byte[work.Length][];

        Parallel.For(0, work.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = image.ReadRegion(work[i]).Pixels);

        Assert.All(Enumerable.Range(0, work.Length), i => Assert.Equal(TestImages.CropRgb(tiff.PixelData, 128, work[i].Box), results[i]));
    }
}

public sealed class When_a_region_is_read_from_a_strip_tiff : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, true, true)]
    public void It_matches_the_source_pixels(bool deflate, bool bigTiff, bool bigEndian)
    {
        var tiff = new TestTiff { Width = 50, Height = 37, RowsPerStrip = 5, Deflate = deflate, BigTiff = bigTiff, BigEndian = bigEndian };
        string path = tiff.WriteTo(_folder.File("strips.tif"));
        using LargeImage image = LargeImage.Open(path);
        var box = new PixelBox(3, 4, 40, 30);

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal(TestImages.CropRgb(tiff.PixelData, 50, box), region.Pixels);
        Assert.False(image.IsTiled);
        Assert.False(image.SupportsRandomAccess);
    }

    [Fact]
    public void A_libvips_strip_tiff_matches_too()
    {
        byte[] rgb = TestImages.Noise(80, 60, 3, seed: 5);
        string path = _folder.File("vips-strips.tif");
        using (Image source = TestImages.ToVips(rgb, 80, 60, 3))
        {
            source.Tiffsave(path, compression: Enums.ForeignTiffCompression.Lzw);
        }

        using LargeImage image = LargeImage.Open(path);

        Assert.Equal(TestImages.CropRgb(rgb, 80, new PixelBox(10, 20, 60, 40)), image.ReadRegion(new PixelBox(10, 20, 60, 40)).Pixels);
    }
}

public sealed class When_a_region_is_read_from_a_jpeg_or_webp : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly byte[] _rgb = TestImages.Noise(64, 48, 3, seed: 6);

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_jpeg_region_matches_the_full_decode()
    {
        string path = _folder.File("noise.jpg");
        using (Image source = TestImages.ToVips(_rgb, 64, 48, 3))
        {
            source.Jpegsave(path, q: 85);
        }

        byte[] whole = TestImages.DecodeWhole(path, out _);
        using LargeImage image = LargeImage.Open(path);
        var box = new PixelBox(9, 5, 31, 29);

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal("jpegload", image.Format);
        Assert.Equal(TestImages.CropRgb(whole, 64, box), region.Pixels);
    }

    [Fact]
    public void A_lossless_webp_region_matches_the_source_pixels()
    {
        string path = _folder.File("noise.webp");
        using (Image source = TestImages.ToVips(_rgb, 64, 48, 3))
        {
            source.Webpsave(path, lossless: true);
        }

        using LargeImage image = LargeImage.Open(path);
        var box = new PixelBox(20, 10, 44, 38);

        ImageRegion region = image.ReadRegion(box);

        Assert.Equal("webpload", image.Format);
        Assert.Equal(TestImages.CropRgb(_rgb, 64, box), region.Pixels);
    }
}

public sealed class When_a_region_is_saved_as_png : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void The_png_holds_the_same_rgb_pixels()
    {
        var tiff = new TestTiff { Width = 64, Height = 64, TileSize = 32, Deflate = true };
        string source = tiff.WriteTo(_folder.File("tiled.tif"));
        string target = _folder.File("region.png");
        using LargeImage image = LargeImage.Open(source);
        var box = new PixelBox(5, 6, 40, 30);

        ImageRegion written = image.SaveRegionPng(box, target);

        using LargeImage png = LargeImage.Open(target);
        Assert.Equal((40, 30, 3), (png.Width, png.Height, png.Bands));
        Assert.Equal(written.Pixels, png.ReadRegion(png.Bounds).Pixels);
        Assert.Equal(TestImages.CropRgb(tiff.PixelData, 64, box), written.Pixels);
        Assert.Equal(["region.png", "tiled.tif"], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void A_padded_grid_cell_is_saved_with_its_padding()
    {
        var tiff = new TestTiff { Width = 40, Height = 30 };
        string source = tiff.WriteTo(_folder.File("small.tif"));
        using LargeImage image = LargeImage.Open(source);
        RegionGrid grid = RegionGrid.Create(image.Width, image.Height, 32, 32, GridOrder.Raster, GridEdgePolicy.Pad);
        ImageRegion region = image.ReadRegion(grid.At(0, 1));

        region.SavePng(_folder.File("cell.png"), compression: 1);

        using LargeImage png = LargeImage.Open(_folder.File("cell.png"));
        Assert.Equal((32, 32), (png.Width, png.Height));
        Assert.Equal(region.Pixels, png.ReadRegion(png.Bounds).Pixels);
    }
}
