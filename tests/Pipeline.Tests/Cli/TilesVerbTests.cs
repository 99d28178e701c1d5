using System.Text.Json;
using VideoLong.Ingest.Tests.Images;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_the_cli_reads_tiles_of_a_large_image(TempMedia media)
{
    private static readonly double[] Scale = [30, 30, 0];
    private static readonly double[] TiePoint = [0, 0, 0, 440720, 3751320, 0];

    private string GeoTiff => File.Exists(media.PathOf("geo.tif"))
        ? media.PathOf("geo.tif")
        : new TestTiff
        {
            Width = 300, Height = 200, TileSize = 64,
            ExtraTags = [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, new ushort[] { 1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 26711 })],
        }.WriteTo(media.PathOf("geo.tif"));

    [Fact]
    public async Task A_zigzag_grid_is_written_in_order_with_chunks_and_map_coordinates()
    {
        string outDir = media.PathOf("grid-out");
        var run = await CliRunner.RunAsync("tiles", GeoTiff, "--grid", "128,64", "--order", "zigzag", "--out", outDir, "--json");
        Assert.Equal(0, run.Exit);
        using JsonDocument doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "manifest.json")));
        JsonElement[] regions = doc.RootElement.GetProperty("regions").EnumerateArray().ToArray();
        Assert.Equal(6, regions.Length);                                              // 3 columns x 2 rows, the edges padded
        Assert.Equal([(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)],
            regions.Select(r => (r.GetProperty("row").GetInt32(), r.GetProperty("column").GetInt32())));
        Assert.All(regions, r => Assert.Equal(4, r.GetProperty("chunks").GetArrayLength()));
        Assert.Equal(44, regions[2].GetProperty("valid").GetProperty("width").GetInt32());   // 300 - 256

        JsonElement map = regions[1].GetProperty("map");
        Assert.Equal(26711, map.GetProperty("epsg").GetInt32());
        Assert.Equal(440720 + (128 * 30), map.GetProperty("minX").GetDouble(), 6);
        Assert.Equal(3751320 - (128 * 30), map.GetProperty("minY").GetDouble(), 6);
        Assert.Equal(26711, doc.RootElement.GetProperty("image").GetProperty("geo").GetProperty("epsg").GetInt32());

        using var full = NetVips.Image.NewFromFile(GeoTiff);
        using var expected = full.Crop(128, 0, 128, 128);
        using var written = NetVips.Image.NewFromFile(Path.Combine(outDir, regions[1].GetProperty("file").GetString()!));
        Assert.Equal(expected.WriteToMemory<byte>(), written.WriteToMemory<byte>());
    }

    [Fact]
    public async Task One_region_is_read_exactly()
    {
        string outDir = media.PathOf("region-out");
        var run = await CliRunner.RunAsync("tiles", GeoTiff, "--region", "10,20,50,40", "--out", outDir);
        Assert.Equal(0, run.Exit);
        Assert.Contains("EPSG:26711", run.Out, StringComparison.Ordinal);
        using var written = NetVips.Image.NewFromFile(Path.Combine(outDir, "region_00000_x10_y20.png"));
        Assert.Equal((50, 40), (written.Width, written.Height));
    }

    [Fact]
    public async Task Bad_requests_and_bad_images_are_one_line_errors()
    {
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--region", "290,0,50,50", "--out", media.PathOf("o")), "does not fit");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--region", "1,2,3", "--out", media.PathOf("o")), "Invalid --region");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--out", media.PathOf("o")), "exactly one of");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--grid", "100,30", "--out", media.PathOf("o")), "30");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--grid", "8", "--out", media.PathOf("o")), "--max-regions");
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", GeoTiff, "--grid", "x", "--out", media.PathOf("o")), "Invalid --grid");

        string corrupt = new TestTiff { Width = 64, Height = 64, RowsPerStrip = 64, Deflate = true, TamperBlock = (_, b) => [.. b.Take(10), .. new byte[b.Length - 10]] }
            .WriteTo(media.PathOf("corrupt.tif"));
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", corrupt, "--region", "0,0,64,64", "--out", media.PathOf("o")), "corrupt.tif");

        string notImage = media.PathOf("noise.png");
        await File.WriteAllBytesAsync(notImage, Enumerable.Range(0, 4096).Select(i => (byte)(i * 31)).ToArray());
        CliRunner.AssertOneLineError(await CliRunner.RunAsync("tiles", notImage, "--region", "0,0,1,1", "--out", media.PathOf("o")), "noise.png");
    }
}
