namespace VideoLong.Contracts;

/// <summary>A rectangle in image pixels: top-left corner and size.</summary>
public sealed record PixelBox
{
    public required long X { get; init; }

    public required long Y { get; init; }

    public required long Width { get; init; }

    public required long Height { get; init; }
}
