using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_a_geotiff_is_opened : IDisposable
{
    // GDAL's autotest byte.tif: 20×20 px of 60 m, UTM 11N / NAD27 (EPSG:26711), tie point (0, 0) → (440720, 3751320).
    private static readonly double[] Scale = [60, 60, 0];
    private static readonly double[] TiePoint = [0, 0, 0, 440720, 3751320, 0];

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A GeoKeyDirectoryTag holding SHORT keys stored in place.</summary>
    internal static ushort[] GeoKeys(params (ushort Id, ushort Value)[] keys) =>
        [1, 1, 0, (ushort)keys.Length, .. keys.OrderBy(k => k.Id).SelectMany(k => new ushort[] { k.Id, 0, 1, k.Value })];

    private string Write(string name, bool bigTiff = false, bool bigEndian = false, params TiffTag[] tags) =>
        new TestTiff { Width = 20, Height = 20, Samples = 1, BigTiff = bigTiff, BigEndian = bigEndian, ExtraTags = [.. tags] }
            .WriteTo(_folder.File(name));

    private GeoReference OpenGeo(string path)
    {
        using LargeImage image = LargeImage.Open(path);
        return Assert.IsType<GeoReference>(image.Geo);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void A_tie_point_and_pixel_scale_give_gdals_transform_and_the_epsg_code(bool bigTiff, bool bigEndian)
    {
        string path = Write("byte.tif", bigTiff, bigEndian,
            new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, GeoKeys((1024, 1), (1025, 1), (3072, 26711))));

        GeoReference geo = OpenGeo(path);

        Assert.Equal(new AffineTransform(440720, 60, 0, 3751320, 0, -60), geo.Transform);
        Assert.Equal([440720, 60, 0, 3751320, 0, -60], geo.Transform.ToArray());
        Assert.Equal(26711, geo.Epsg);
        Assert.Equal(GeoRasterType.PixelIsArea, geo.RasterType);
        Assert.Equal(GeoTransformSource.TiePointAndScale, geo.Source);
        Assert.Equal(GeoModelType.Projected, geo.ModelType);
    }

    [Fact]
    public void Pixel_is_point_shifts_the_transform_by_half_a_pixel_as_gdal_does()
    {
        // GDAL's byte_point.tif reads as (440690, 60, 0, 3751350, 0, -60) unless GTIFF_POINT_GEO_IGNORE is set.
        string path = Write("byte_point.tif", tags:
            [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, GeoKeys((1024, 1), (1025, 2), (3072, 26711)))]);

        GeoReference geo = OpenGeo(path);

        Assert.Equal(new AffineTransform(440690, 60, 0, 3751350, 0, -60), geo.Transform);
        Assert.Equal(GeoRasterType.PixelIsPoint, geo.RasterType);
    }

    [Fact]
    public void A_tie_point_away_from_the_origin_is_projected_back_to_pixel_0_0()
    {
        string path = Write("offset.tif", tags:
            [new TiffTag(33550, new double[] { 0.5, 0.25, 0 }), new TiffTag(33922, new double[] { 10, 20, 0, 1000, 2000, 0 })]);

        GeoReference geo = OpenGeo(path);

        Assert.Equal(new AffineTransform(995, 0.5, 0, 2005, 0, -0.25), geo.Transform);
        Assert.Null(geo.Epsg);
        Assert.Null(geo.ModelType);
        Assert.Equal(GeoRasterType.PixelIsArea, geo.RasterType);
    }

    [Fact]
    public void A_negative_y_scale_is_still_read_as_north_up()
    {
        string path = Write("neg.tif", tags: [new TiffTag(33550, new double[] { 60, -60, 0 }), new TiffTag(33922, TiePoint)]);

        Assert.Equal(-60, OpenGeo(path).Transform.A5);
    }

    [Fact]
    public void A_transformation_matrix_gives_a_rotated_transform()
    {
        double[] matrix = [2, 1, 0, 500000, 1, -2, 0, 4000000, 0, 0, 0, 0, 0, 0, 0, 1];
        string path = Write("matrix.tif", tags: [new TiffTag(34264, matrix), new TiffTag(34735, GeoKeys((1024, 1), (3072, 32633)))]);

        GeoReference geo = OpenGeo(path);

        Assert.Equal(new AffineTransform(500000, 2, 1, 4000000, 1, -2), geo.Transform);
        Assert.Equal(GeoTransformSource.TransformationMatrix, geo.Source);
        Assert.Equal(32633, geo.Epsg);
    }

    [Fact]
    public void A_transformation_matrix_with_pixel_is_point_is_shifted_too()
    {
        double[] matrix = [2, 1, 0, 500000, 1, -2, 0, 4000000, 0, 0, 0, 0, 0, 0, 0, 1];
        string path = Write("matrix-point.tif", tags: [new TiffTag(34264, matrix), new TiffTag(34735, GeoKeys((1025, 2)))]);

        GeoReference geo = OpenGeo(path);

        // A0 − (A1 + A2)/2 = 500000 − 1.5; A3 − (A4 + A5)/2 = 4000000 + 0.5
        Assert.Equal(new AffineTransform(499998.5, 2, 1, 4000000.5, 1, -2), geo.Transform);
    }

    [Fact]
    public void Tie_point_and_scale_take_precedence_over_a_matrix()
    {
        double[] matrix = [2, 1, 0, 500000, 1, -2, 0, 4000000, 0, 0, 0, 0, 0, 0, 0, 1];
        string path = Write("both.tif", tags: [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34264, matrix)]);

        Assert.Equal(GeoTransformSource.TiePointAndScale, OpenGeo(path).Source);
    }

    [Theory]
    [InlineData(new ushort[] { 1024, 2, 2048, 4326 }, 4326)]
    [InlineData(new ushort[] { 2048, 4326, 3072, 32633 }, 32633)]
    [InlineData(new ushort[] { 2048, 4326, 3072, 32767 }, null)]
    [InlineData(new ushort[] { 2048, 32767 }, null)]
    [InlineData(new ushort[] { 1024, 1 }, null)]
    public void The_epsg_code_comes_from_the_projected_key_else_the_geographic_key(ushort[] pairs, int? epsg)
    {
        (ushort, ushort)[] keys = pairs.Chunk(2).Select(p => (p[0], p[1])).ToArray();
        string path = Write("epsg.tif", tags: [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, GeoKeys(keys))]);

        Assert.Equal(epsg, OpenGeo(path).Epsg);
    }

    [Fact]
    public void A_key_stored_in_the_directory_itself_is_read()
    {
        // ProjectedCSTypeGeoKey with TIFFTagLocation = 34735: its value sits at index 8 of the directory.
        ushort[] directory = [1, 1, 0, 1, 3072, 34735, 1, 8, 26711];
        string path = Write("indirect.tif", tags: [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, directory)]);

        Assert.Equal(26711, OpenGeo(path).Epsg);
    }

    [Fact]
    public void Pixels_map_to_coordinates_and_back()
    {
        string path = Write("byte.tif", tags: [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint)]);
        GeoReference geo = OpenGeo(path);

        Assert.Equal(new MapPoint(440720, 3751320), geo.PixelToMap(0, 0));
        Assert.Equal(new MapPoint(441320, 3750120), geo.PixelToMap(10, 20));
        Assert.Equal(new MapPoint(440750, 3751290), geo.PixelToMap(0.5, 0.5)); // centre of pixel (0, 0)
        Assert.Equal(new PixelPoint(10, 20), geo.MapToPixel(441320, 3750120));
        Assert.Equal(new MapBounds(441320, 3747720, 443120, 3750120), geo.MapBoundsOf(new PixelBox(10, 20, 30, 40)));
    }

    [Fact]
    public void The_map_bounds_of_a_box_cover_all_four_corners_of_a_rotated_transform()
    {
        double[] matrix = [2, 1, 0, 500000, 1, -2, 0, 4000000, 0, 0, 0, 0, 0, 0, 0, 1];
        GeoReference geo = OpenGeo(Write("matrix.tif", tags: [new TiffTag(34264, matrix)]));
        var box = new PixelBox(0, 0, 10, 10);

        MapPoint[] corners = geo.MapCornersOf(box);
        MapBounds bounds = geo.MapBoundsOf(box);

        Assert.Equal([new(500000, 4000000), new(500020, 4000010), new(500030, 3999990), new(500010, 3999980)], corners);
        Assert.Equal(new MapBounds(500000, 3999980, 500030, 4000010), bounds); // TL and BR alone would miss y 3999980..4000010
        Assert.Equal(new PixelPoint(10, 10), geo.MapToPixel(500030, 3999990));
    }

    [Fact]
    public void A_tiff_without_geotiff_tags_has_no_georeference()
    {
        using LargeImage image = LargeImage.Open(Write("plain.tif"));

        Assert.Null(image.Geo);
    }

    [Fact]
    public void Ground_control_points_or_a_scale_alone_give_no_affine_transform()
    {
        double[] twoTiePoints = [0, 0, 0, 100, 200, 0, 10, 10, 0, 110, 190, 0];
        using LargeImage gcps = LargeImage.Open(Write("gcps.tif", tags: [new TiffTag(33922, twoTiePoints)]));
        using LargeImage scaleOnly = LargeImage.Open(Write("scale.tif", tags: [new TiffTag(33550, Scale)]));

        Assert.Null(gcps.Geo);
        Assert.Null(scaleOnly.Geo);
    }

    [Fact]
    public void The_pixels_of_a_geotiff_read_normally()
    {
        var tiff = new TestTiff
        {
            Width = 20,
            Height = 20,
            TileSize = 16,
            Deflate = true,
            ExtraTags = [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, GeoKeys((1024, 1), (3072, 26711)))],
        };
        using LargeImage image = LargeImage.Open(tiff.WriteTo(_folder.File("tiled-geo.tif")));

        Assert.Equal(tiff.PixelData, image.ReadRegion(image.Bounds).Pixels);
        Assert.NotNull(image.Geo);
    }

    [Theory]
    [InlineData("tie5", "ModelTiepointTag (33922) has 5 value(s)")]
    [InlineData("matrix12", "ModelTransformationTag (34264) has 12 value(s); expected 16")]
    [InlineData("version2", "KeyDirectoryVersion 2")]
    [InlineData("keysOverflow", "declares 3 keys but holds room for 1")]
    [InlineData("tieCount", "ModelTiepointTag (tag 33922) claims 1000000000 values")]
    [InlineData("keysAsLong", "GeoKeyDirectoryTag (tag 34735) has field type 4")]
    [InlineData("degenerate", "georeferencing is degenerate")]
    [InlineData("valuesPastEnd", "run past the end of the file")]
    public void Malformed_geotiff_tags_are_a_decode_error(string defect, string message)
    {
        TiffTag[] tags = defect switch
        {
            "tie5" => [new TiffTag(33550, Scale), new TiffTag(33922, new double[] { 0, 0, 0, 1, 2 })],
            "matrix12" => [new TiffTag(34264, new double[12])],
            "version2" => [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, new ushort[] { 2, 1, 0, 0 })],
            "keysOverflow" => [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, new ushort[] { 1, 1, 0, 3, 1024, 0, 1, 1 })],
            "tieCount" => [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint, DeclaredCount: 1_000_000_000)],
            "keysAsLong" => [new TiffTag(34735, new uint[] { 1, 1, 0, 0 })],
            "degenerate" => [new TiffTag(34264, new double[16])],
            "valuesPastEnd" => [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint, DeclaredCount: 6000)],
            _ => throw new ArgumentOutOfRangeException(nameof(defect)),
        };
        string path = Write($"{defect}.tif", tags: tags);

        var error = Assert.Throws<ImageDecodeException>(() => LargeImage.Open(path));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void Malformed_geotiff_tags_can_be_ignored_to_read_the_pixels()
    {
        string path = Write("matrix12.tif", tags: [new TiffTag(34264, new double[12])]);

        using LargeImage image = LargeImage.Open(path, new LargeImageOptions { ReadGeoReference = false });

        Assert.Null(image.Geo);
        Assert.Equal(20, image.ReadRegion(image.Bounds).Width);
    }
}

public sealed class When_an_affine_transform_is_inverted
{
    [Fact]
    public void A_singular_transform_cannot_be_inverted()
    {
        var transform = new AffineTransform(0, 1, 2, 0, 2, 4);

        var error = Assert.Throws<InvalidOperationException>(() => transform.Invert(1, 1));

        Assert.Contains("determinant is 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Applying_then_inverting_returns_the_pixel()
    {
        var transform = new AffineTransform(300000.5, 0.3, -0.1, 5000000.25, 0.2, -0.4);

        MapPoint map = transform.Apply(123.25, 456.75);
        PixelPoint back = transform.Invert(map.X, map.Y);

        Assert.Equal(123.25, back.Column, 6);
        Assert.Equal(456.75, back.Row, 6);
    }
}
