namespace VideoLong.Ingest.Images;

/// <summary>How a GeoTIFF's model coordinates relate to its pixels (GTRasterTypeGeoKey, 1025).</summary>
public enum GeoRasterType
{
    /// <summary>A pixel is an area; the tie point names the pixel's top-left corner (the GeoTIFF default).</summary>
    PixelIsArea = 1,

    /// <summary>A pixel is a point sample; the tie point names the pixel's centre.</summary>
    PixelIsPoint = 2,
}

/// <summary>The kind of model space (GTModelTypeGeoKey, 1024).</summary>
public enum GeoModelType
{
    Projected = 1,
    Geographic = 2,
    Geocentric = 3,
}

/// <summary>Which GeoTIFF tags the affine transform came from.</summary>
public enum GeoTransformSource
{
    /// <summary>ModelTiepointTag (33922) with ModelPixelScaleTag (33550): north-up, no rotation.</summary>
    TiePointAndScale,

    /// <summary>ModelTransformationTag (34264): a full affine, possibly rotated or sheared.</summary>
    TransformationMatrix,
}

/// <summary>A point in map (model) coordinates, in the units of the CRS (metres, degrees, …).</summary>
public readonly record struct MapPoint(double X, double Y);

/// <summary>A point in continuous pixel coordinates: (0, 0) is the top-left corner of the top-left pixel, (0.5, 0.5) its centre.</summary>
public readonly record struct PixelPoint(double Column, double Row);

/// <summary>An axis-aligned rectangle in map coordinates.</summary>
public readonly record struct MapBounds(double MinX, double MinY, double MaxX, double MaxY)
{
    public double Width => MaxX - MinX;

    public double Height => MaxY - MinY;
}

/// <summary>
/// An affine map from continuous pixel coordinates (column, row) to map coordinates, with GDAL's coefficient order:
/// <c>x = A0 + A1·column + A2·row</c>, <c>y = A3 + A4·column + A5·row</c>. For a north-up image A2 = A4 = 0 and A5 &lt; 0.
/// </summary>
public readonly record struct AffineTransform(double A0, double A1, double A2, double A3, double A4, double A5)
{
    /// <summary>A1·A5 − A2·A4; zero when the transform cannot be inverted.</summary>
    public double Determinant => (A1 * A5) - (A2 * A4);

    /// <summary>The six coefficients in GDAL's GetGeoTransform order.</summary>
    public double[] ToArray() => [A0, A1, A2, A3, A4, A5];

    public MapPoint Apply(double column, double row) => new(A0 + (A1 * column) + (A2 * row), A3 + (A4 * column) + (A5 * row));

    /// <exception cref="InvalidOperationException">The transform is singular.</exception>
    public PixelPoint Invert(double x, double y)
    {
        double det = Determinant;
        if (det == 0 || !double.IsFinite(det))
        {
            throw new InvalidOperationException($"The transform ({string.Join(", ", ToArray())}) cannot be inverted: its determinant is {det}.");
        }

        double dx = x - A0;
        double dy = y - A3;
        return new PixelPoint(((A5 * dx) - (A2 * dy)) / det, ((A1 * dy) - (A4 * dx)) / det);
    }
}

/// <summary>
/// Georeferencing of a GeoTIFF: an affine transform from pixel to map coordinates and, where the file names one, the
/// EPSG code of the coordinate reference system.
/// </summary>
/// <remarks>
/// <see cref="Transform"/> always maps pixel <em>corners</em> (PixelIsArea convention), as GDAL reports it by default:
/// for a <see cref="GeoRasterType.PixelIsPoint"/> file the transform read from the tags is shifted by half a pixel
/// (<c>A0 -= (A1 + A2) / 2</c>, <c>A3 -= (A4 + A5) / 2</c>), so <c>PixelToMap(c + 0.5, r + 0.5)</c> is the centre of
/// pixel (c, r) for both raster types.
/// </remarks>
public sealed record GeoReference
{
    /// <summary>Pixel corners → map coordinates (GDAL order).</summary>
    public required AffineTransform Transform { get; init; }

    public required GeoRasterType RasterType { get; init; }

    public required GeoTransformSource Source { get; init; }

    /// <summary>
    /// ProjectedCSTypeGeoKey (3072) when present, otherwise GeographicTypeGeoKey (2048); null when neither is present or
    /// the CRS is user-defined (32767) or undefined (0).
    /// </summary>
    public int? Epsg { get; init; }

    /// <summary>GTModelTypeGeoKey (1024), when present and known.</summary>
    public GeoModelType? ModelType { get; init; }

    /// <summary>Map coordinates of the continuous pixel position (<paramref name="column"/>, <paramref name="row"/>).</summary>
    public MapPoint PixelToMap(double column, double row) => Transform.Apply(column, row);

    /// <summary>Continuous pixel position of a map point (the inverse of <see cref="PixelToMap"/>).</summary>
    public PixelPoint MapToPixel(double x, double y) => Transform.Invert(x, y);

    /// <summary>Map coordinates of the four corners of <paramref name="box"/>: top-left, top-right, bottom-right, bottom-left.</summary>
    public MapPoint[] MapCornersOf(PixelBox box) =>
    [
        Transform.Apply(box.X, box.Y),
        Transform.Apply(box.Right, box.Y),
        Transform.Apply(box.Right, box.Bottom),
        Transform.Apply(box.X, box.Bottom),
    ];

    /// <summary>
    /// The map-coordinate bounding box of <paramref name="box"/>, taken over all four pixel corners, so it is right for
    /// rotated and sheared transforms too (and for south-up or east-left ones).
    /// </summary>
    public MapBounds MapBoundsOf(PixelBox box)
    {
        MapPoint[] corners = MapCornersOf(box);
        return new MapBounds(
            corners.Min(p => p.X), corners.Min(p => p.Y), corners.Max(p => p.X), corners.Max(p => p.Y));
    }
}
