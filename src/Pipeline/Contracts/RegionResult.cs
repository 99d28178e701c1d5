namespace VideoLong.Contracts;

/// <summary>The text produced for one region of a large image.</summary>
public sealed record RegionResult
{
    /// <summary>Position in visiting order (raster or zig-zag), from 0.</summary>
    public int Index { get; init; }

    public int Row { get; init; }

    public int Column { get; init; }

    public required PixelBox Box { get; init; }

    /// <summary>The part of <see cref="Box"/> inside the image when the region is padded past the edge; null when it is whole.</summary>
    public PixelBox? Valid { get; init; }

    /// <summary>The region in map coordinates; null when the image is not georeferenced.</summary>
    public MapBounds? Bounds { get; init; }

    public required string Text { get; init; }
}
