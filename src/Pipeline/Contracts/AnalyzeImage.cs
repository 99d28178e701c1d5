namespace VideoLong.Contracts;

/// <summary>Command: analyse a large image region by region (xT): a question answered, or a caption written, per region.</summary>
public sealed record AnalyzeImage
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>The image (GeoTIFF, TIFF, PNG, JPEG…), as a stored artifact; set this or <see cref="SourcePath"/>.</summary>
    public ArtifactRef? Source { get; init; }

    /// <summary>The image, as a path under the configured allowed roots; set this or <see cref="Source"/>.</summary>
    public string? SourcePath { get; init; }

    public required RegionTask Task { get; init; }

    /// <summary>The question asked of every region when <see cref="Task"/> is <see cref="RegionTask.Question"/>.</summary>
    public string? Question { get; init; }

    /// <summary>Side of a region in pixels (xT: R).</summary>
    public required int RegionSize { get; init; }

    /// <summary>Side of a chunk inside a region in pixels; a divisor of <see cref="RegionSize"/>.</summary>
    public required int ChunkSize { get; init; }

    public RegionOrder Order { get; init; } = RegionOrder.Raster;

    /// <summary>Regions at the right and bottom edges: padded, shifted inward, or dropped.</summary>
    public RegionEdge Edge { get; init; } = RegionEdge.Pad;

    /// <summary>Most regions the grid may hold; a larger grid faults the job before any region is read.</summary>
    public int MaxRegions { get; init; } = 64;

    public required string Model { get; init; }

    public GenerationSettings Generation { get; init; } = new();
}
