namespace VideoLong.Ingest.Images;

/// <summary>
/// Turns the raw GeoTIFF tags of a TIFF's first IFD into a <see cref="GeoReference"/>, following what GDAL reports for
/// the same file (GeoTIFF 1.1, OGC 19-008r4; GDAL's GTiff driver with its default configuration).
/// </summary>
internal static class GeoTiffReferencing
{
    internal const ushort KeyModelType = 1024;
    internal const ushort KeyRasterType = 1025;
    internal const ushort KeyGeographicType = 2048;
    internal const ushort KeyProjectedCsType = 3072;
    internal const ushort UserDefined = 32767;

    /// <summary>
    /// The georeference, or null when the tags define no affine transform: no model tags, a pixel scale without a tie
    /// point, or several tie points without a scale (ground control points, which have no single affine).
    /// </summary>
    /// <exception cref="ImageDecodeException">A tag has the wrong number of values, or the transform is degenerate.</exception>
    public static GeoReference? Build(GeoTiffTags tags, string path)
    {
        if (tags.IsEmpty)
        {
            return null;
        }

        Dictionary<ushort, ushort> keys = tags.GeoKeyDirectory is { } directory ? ReadShortKeys(directory, path) : [];

        // GDAL treats every value other than 2 (including a missing key) as PixelIsArea.
        GeoRasterType rasterType = keys.TryGetValue(KeyRasterType, out ushort raster) && raster == (ushort)GeoRasterType.PixelIsPoint
            ? GeoRasterType.PixelIsPoint
            : GeoRasterType.PixelIsArea;

        if (ReadTransform(tags, path) is not { } found)
        {
            return null;
        }

        (AffineTransform transform, GeoTransformSource source) = found;

        if (rasterType == GeoRasterType.PixelIsPoint)
        {
            // The model coordinates name pixel centres: move the origin half a pixel up-left so the transform maps
            // corners, as GDAL does unless GTIFF_POINT_GEO_IGNORE is set.
            transform = transform with
            {
                A0 = transform.A0 - ((transform.A1 * 0.5) + (transform.A2 * 0.5)),
                A3 = transform.A3 - ((transform.A4 * 0.5) + (transform.A5 * 0.5)),
            };
        }

        double[] coefficients = transform.ToArray();
        if (!coefficients.All(double.IsFinite) || transform.Determinant == 0 || !double.IsFinite(transform.Determinant))
        {
            throw Invalid(path, $"its georeferencing is degenerate (transform {string.Join(", ", coefficients)})");
        }

        return new GeoReference
        {
            Transform = transform,
            RasterType = rasterType,
            Source = source,
            Epsg = ReadEpsg(keys),
            ModelType = keys.TryGetValue(KeyModelType, out ushort model) && model is >= 1 and <= 3 ? (GeoModelType)model : null,
        };
    }

    private static (AffineTransform, GeoTransformSource)? ReadTransform(GeoTiffTags tags, string path)
    {
        if (tags.PixelScale is { Length: < 2 } scaleTooShort)
        {
            throw Invalid(path, $"ModelPixelScaleTag (33550) has {scaleTooShort.Length} value(s); expected 3 (ScaleX, ScaleY, ScaleZ)");
        }

        if (tags.TiePoints is { Length: < 6 } tieTooShort)
        {
            throw Invalid(path, $"ModelTiepointTag (33922) has {tieTooShort.Length} value(s); expected 6 per tie point (I, J, K, X, Y, Z)");
        }

        // Tie point + scale wins over the matrix, as in GDAL. A zero scale is ignored, again as in GDAL.
        if (tags.PixelScale is [double scaleX, double scaleY, ..] && scaleX != 0 && scaleY != 0 && tags.TiePoints is { } tie)
        {
            // The tie point maps raster (I, J) to model (X, Y); rows go down while Y goes up, hence −|ScaleY| (a
            // negative ScaleY in the file is read as north-up too, GDAL's default).
            double a1 = scaleX;
            double a5 = -Math.Abs(scaleY);
            var transform = new AffineTransform(tie[3] - (tie[0] * a1), a1, 0, tie[4] - (tie[1] * a5), 0, a5);
            return (transform, GeoTransformSource.TiePointAndScale);
        }

        if (tags.Transformation is { } matrix)
        {
            if (matrix.Length != 16)
            {
                throw Invalid(path, $"ModelTransformationTag (34264) has {matrix.Length} value(s); expected 16 (a 4×4 matrix)");
            }

            // Row-major 4×4: x = m0·I + m1·J + m3, y = m4·I + m5·J + m7 (the Z terms do not apply to a raster).
            var transform = new AffineTransform(matrix[3], matrix[0], matrix[1], matrix[7], matrix[4], matrix[5]);
            return (transform, GeoTransformSource.TransformationMatrix);
        }

        return null;
    }

    private static int? ReadEpsg(Dictionary<ushort, ushort> keys)
    {
        // A user-defined projected CRS is not described by its (geographic) base CRS, so 3072 decides when present.
        if (keys.TryGetValue(KeyProjectedCsType, out ushort projected))
        {
            return Code(projected);
        }

        return keys.TryGetValue(KeyGeographicType, out ushort geographic) ? Code(geographic) : null;

        static int? Code(ushort value) => value is 0 or UserDefined ? null : value;
    }

    /// <summary>
    /// The SHORT-valued keys of a GeoKeyDirectoryTag: header {KeyDirectoryVersion = 1, KeyRevision, MinorRevision,
    /// NumberOfKeys}, then NumberOfKeys entries {KeyID, TIFFTagLocation, Count, Value_Offset}. Keys whose values live in
    /// GeoDoubleParamsTag or GeoAsciiParamsTag are not needed here and are skipped.
    /// </summary>
    internal static Dictionary<ushort, ushort> ReadShortKeys(ushort[] directory, string path)
    {
        if (directory.Length < 4)
        {
            throw Invalid(path, $"GeoKeyDirectoryTag (34735) has {directory.Length} value(s), fewer than its 4-value header");
        }

        if (directory[0] != 1)
        {
            throw Invalid(path, $"GeoKeyDirectoryTag (34735) has KeyDirectoryVersion {directory[0]}; only 1 is defined");
        }

        int count = directory[3];
        if (4 + (4L * count) > directory.Length)
        {
            throw Invalid(path, $"GeoKeyDirectoryTag (34735) declares {count} keys but holds room for {(directory.Length - 4) / 4}");
        }

        var keys = new Dictionary<ushort, ushort>();
        for (int i = 0; i < count; i++)
        {
            int at = 4 + (4 * i);
            ushort id = directory[at];
            ushort location = directory[at + 1];
            ushort valueCount = directory[at + 2];
            ushort value = directory[at + 3];
            if (location == 0)
            {
                keys.TryAdd(id, value);
            }
            else if (location == TiffStructureReader.TagGeoKeyDirectory && valueCount >= 1)
            {
                // SHORT values stored at the end of the directory itself; Value_Offset indexes the directory.
                if (value >= directory.Length)
                {
                    throw Invalid(path, $"GeoKey {id} points at index {value} of a {directory.Length}-value GeoKeyDirectoryTag");
                }

                keys.TryAdd(id, directory[value]);
            }
        }

        return keys;
    }

    private static ImageDecodeException Invalid(string path, string detail) =>
        new(path, $"'{path}' has invalid GeoTIFF tags: {detail}. Open it with LargeImageOptions.ReadGeoReference = false to read the pixels without georeferencing.");
}
