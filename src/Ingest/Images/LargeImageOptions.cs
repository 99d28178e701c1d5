using System.ComponentModel.DataAnnotations;

namespace VideoLong.Ingest.Images;

/// <summary>Limits and strictness for <see cref="LargeImage.Open"/>; fixed for the life of the opened image.</summary>
public sealed record LargeImageOptions
{
    /// <summary>10,000,000,000 px (e.g. 100,000 × 100,000).</summary>
    public const long DefaultPixelLimit = 10_000_000_000;

    /// <summary>268,435,456 px = 16384².</summary>
    public const long DefaultUntiledPixelLimit = 16384L * 16384;

    /// <summary>Largest region one read returns: 16384² px, 768 MiB of RGB24.</summary>
    public const long DefaultMaxRegionPixels = 16384L * 16384;

    /// <summary>Largest region any read can return: a managed array holds at most <see cref="Array.MaxLength"/> bytes.</summary>
    public const long MaxRegionPixelsCeiling = 0x7FFFFFC7 / ImageRegion.Channels;

    public static LargeImageOptions Default { get; } = new();

    /// <summary>
    /// Largest image (width × height) accepted when it can be read region by region: a tiled TIFF/BigTIFF. Checked
    /// against the header before any pixel is decoded.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long PixelLimit { get; init; } = DefaultPixelLimit;

    /// <summary>
    /// Largest image accepted when libvips must decode it whole (or strip by strip from the top) before a region can be
    /// read: JPEG, PNG, WebP and TIFF in strips. The guard against decompression bombs; checked from the header.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long UntiledPixelLimit { get; init; } = DefaultUntiledPixelLimit;

    /// <summary>Largest box (width × height) one <see cref="LargeImage.ReadRegion(PixelBox)"/> call may ask for.</summary>
    [Range(1, MaxRegionPixelsCeiling)]
    public long MaxRegionPixels { get; init; } = DefaultMaxRegionPixels;

    /// <summary>
    /// Fail a read when the decoder reports any problem, including ones libvips classes as warnings. On by default
    /// because libvips 8.18 reports an undecodable TIFF tile or strip as a warning and hands back black pixels in its
    /// place; with this off, such damage goes unnoticed. Turn it off only to salvage the readable part of a damaged file.
    /// </summary>
    public bool FailOnWarning { get; init; } = true;

    /// <summary>Read GeoTIFF georeferencing (<see cref="LargeImage.Geo"/>); off, malformed GeoTIFF tags are ignored.</summary>
    public bool ReadGeoReference { get; init; } = true;

    /// <exception cref="ArgumentOutOfRangeException">A limit is not positive, or a region limit exceeds what an array can hold.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PixelLimit);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(UntiledPixelLimit);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxRegionPixels);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxRegionPixels, MaxRegionPixelsCeiling);
    }
}
