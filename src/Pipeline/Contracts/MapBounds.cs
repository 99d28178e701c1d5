namespace VideoLong.Contracts;

/// <summary>A rectangle in map coordinates of a georeferenced image.</summary>
public sealed record MapBounds
{
    public required double MinX { get; init; }

    public required double MinY { get; init; }

    public required double MaxX { get; init; }

    public required double MaxY { get; init; }

    /// <summary>The coordinate reference system, e.g. <c>EPSG:4326</c>; null when the image does not name one.</summary>
    public string? Crs { get; init; }
}
