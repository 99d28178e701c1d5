namespace VideoLong.Contracts;

/// <summary>Order in which regions are visited (and carried through the context encoder).</summary>
public enum RegionOrder
{
    /// <summary>Row by row, left to right.</summary>
    Raster,

    /// <summary>Boustrophedon: even rows left to right, odd rows right to left.</summary>
    ZigZag,
}
