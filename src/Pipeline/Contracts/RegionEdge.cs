namespace VideoLong.Contracts;

/// <summary>What happens to regions at the right and bottom edges of a large image that is not a whole number of regions.</summary>
public enum RegionEdge
{
    /// <summary>The last region extends past the edge; the part outside reads as zeros (the region records its valid part).</summary>
    Pad,

    /// <summary>The last region is moved inward to end at the edge, overlapping its neighbour.</summary>
    Shift,

    /// <summary>Partial regions are left out.</summary>
    Drop,
}
