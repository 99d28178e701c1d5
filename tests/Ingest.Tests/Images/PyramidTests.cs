using NetVips;
using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_a_pyramidal_tiff_is_opened : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string SavePyramid(string name, bool subifd, bool bigtiff)
    {
        string path = _folder.File(name);
        using Image source = TestImages.ToVips(TestImages.Noise(300, 200, 3, seed: 20), 300, 200, 3);
        source.Tiffsave(path, tile: true, tileWidth: 64, tileHeight: 64, pyramid: true, subifd: subifd, bigtiff: bigtiff,
            compression: Enums.ForeignTiffCompression.Deflate);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Levels_stored_as_pages_are_counted(bool bigtiff)
    {
        using LargeImage image = LargeImage.Open(SavePyramid("pages.tif", subifd: false, bigtiff));

        Assert.Equal(4, image.LevelCount);
        Assert.Equal(4, image.PageCount);
        Assert.Equal([new(300, 200), new(150, 100), new(75, 50), new(37, 25)], image.Levels);
        Assert.Equal((300, 200), (image.Width, image.Height));
    }

    [Fact]
    public void Levels_stored_as_subifds_are_counted()
    {
        using LargeImage image = LargeImage.Open(SavePyramid("subifd.tif", subifd: true, bigtiff: false));

        Assert.Equal(4, image.LevelCount);
        Assert.Equal(1, image.PageCount);
        Assert.Equal(new ImageLevel(150, 100), image.Levels[1]);
    }

    [Fact]
    public void Pages_of_equal_size_are_not_a_pyramid()
    {
        string path = _folder.File("pages.tif");
        using (Image page = TestImages.ToVips(TestImages.Noise(32, 32, 3, seed: 21), 32, 32, 3))
        using (Image stacked = Image.Arrayjoin([page, page, page], across: 1))
        using (Image paged = stacked.Mutate(image => image.Set(GValue.GIntType, "page-height", 32)))
        {
            paged.Tiffsave(path, tile: true, tileWidth: 16, tileHeight: 16);
        }

        using LargeImage image = LargeImage.Open(path);

        Assert.Equal(3, image.PageCount);
        Assert.Equal(1, image.LevelCount);
        Assert.Equal((32, 32), (image.Width, image.Height));
    }
}
