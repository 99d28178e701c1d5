namespace VideoLong.Contracts;

/// <summary>The text produced for one region of a large image.</summary>
public sealed record RegionResult
{
    public required PixelBox Box { get; init; }

    /// <summary>The region in map coordinates; null when the image is not georeferenced.</summary>
    public MapBounds? Bounds { get; init; }

    public required string Text { get; init; }
}
