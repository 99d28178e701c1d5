namespace VideoLong.Ingest.Images;

/// <summary>Order in which a grid's cells (and the chunks inside each cell) are visited.</summary>
public enum GridOrder
{
    /// <summary>Row by row, left to right in every row (xT "naive").</summary>
    Raster,

    /// <summary>Boustrophedon: even rows (0, 2, …) left to right, odd rows (1, 3, …) right to left (xT "zig_zag_horizontal").</summary>
    ZigZag,
}

/// <summary>What to do at the right and bottom edges when the area is not a whole number of regions.</summary>
public enum GridEdgePolicy
{
    /// <summary>
    /// The last region in a row (column) starts after the previous one as usual and extends past the area's edge; the
    /// part outside the area reads as zeros and <see cref="GridCell.Valid"/> records the part inside.
    /// </summary>
    Pad,

    /// <summary>
    /// The last region is moved inward so that it ends exactly at the area's edge, overlapping its neighbour. Every
    /// region is full of image pixels. Needs the area to be at least one region wide and high.
    /// </summary>
    Shift,

    /// <summary>Partial regions are left out; pixels past the last whole region are not covered.</summary>
    Drop,
}

/// <summary>
/// xT-style nested tiling (ALGORITHMS.md §2.1, §8.4): an area of an image cut into square regions of
/// <see cref="RegionSize"/> px, each cut into square chunks of <see cref="ChunkSize"/> px, visited in
/// <see cref="GridOrder.Raster"/> or <see cref="GridOrder.ZigZag"/> order. A pure function of its arguments.
/// </summary>
/// <example>
/// <code>
/// RegionGrid grid = RegionGrid.Create(image.Width, image.Height, regionSize: 512, chunkSize: 256, GridOrder.ZigZag, GridEdgePolicy.Pad);
/// foreach (GridCell cell in grid.Cells)
/// {
///     ImageRegion region = image.ReadRegion(cell);               // zeros past the edge
///     foreach (GridChunk chunk in cell.Chunks) { ImageRegion part = region.Slice(chunk.Box); }
/// }
/// </code>
/// </example>
public sealed class RegionGrid
{
    /// <summary>Most regions one grid may hold; beyond this, use a larger region size or a sub-area.</summary>
    public const int MaxRegions = 1_000_000;

    private readonly GridCell[] _cells;

    private RegionGrid(int imageWidth, int imageHeight, PixelBox area, int regionSize, int chunkSize, GridOrder order,
        GridEdgePolicy edgePolicy, int rows, int columns, GridCell[] cells)
    {
        ImageWidth = imageWidth;
        ImageHeight = imageHeight;
        Area = area;
        RegionSize = regionSize;
        ChunkSize = chunkSize;
        Order = order;
        EdgePolicy = edgePolicy;
        Rows = rows;
        Columns = columns;
        _cells = cells;
    }

    public int ImageWidth { get; }

    public int ImageHeight { get; }

    /// <summary>The gridded part of the image (the whole image unless a sub-area was given).</summary>
    public PixelBox Area { get; }

    public int RegionSize { get; }

    public int ChunkSize { get; }

    public GridOrder Order { get; }

    public GridEdgePolicy EdgePolicy { get; }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Chunks per region side: RegionSize / ChunkSize.</summary>
    public int ChunksPerSide => RegionSize / ChunkSize;

    /// <summary>Chunks per region: (RegionSize / ChunkSize)².</summary>
    public int ChunksPerRegion => ChunksPerSide * ChunksPerSide;

    /// <summary>Number of regions: Rows × Columns.</summary>
    public int Count => _cells.Length;

    /// <summary>All regions in traversal order (<c>Cells[i].Index == i</c>).</summary>
    public IReadOnlyList<GridCell> Cells => _cells;

    /// <summary>The region at grid position (<paramref name="row"/>, <paramref name="column"/>).</summary>
    public GridCell At(int row, int column)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        ArgumentOutOfRangeException.ThrowIfNegative(column);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, Columns);
        int step = Order == GridOrder.ZigZag && row % 2 == 1 ? Columns - 1 - column : column;
        return _cells[(row * Columns) + step];
    }

    /// <summary>A grid over the whole <paramref name="imageWidth"/> × <paramref name="imageHeight"/> image.</summary>
    /// <inheritdoc cref="Create(int, int, PixelBox, int, int, GridOrder, GridEdgePolicy)"/>
    public static RegionGrid Create(int imageWidth, int imageHeight, int regionSize, int chunkSize, GridOrder order, GridEdgePolicy edgePolicy)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageHeight);
        return Create(imageWidth, imageHeight, new PixelBox(0, 0, imageWidth, imageHeight), regionSize, chunkSize, order, edgePolicy);
    }

    /// <summary>A grid over the sub-rectangle <paramref name="area"/> of the image.</summary>
    /// <param name="regionSize">Side of each region in px (R).</param>
    /// <param name="chunkSize">Side of each chunk in px (C); must divide <paramref name="regionSize"/>. Equal to it for one chunk per region.</param>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive size, an undefined enum value, or more than <see cref="MaxRegions"/> regions.</exception>
    /// <exception cref="ArgumentException"><paramref name="chunkSize"/> does not divide <paramref name="regionSize"/>.</exception>
    /// <exception cref="RegionOutOfBoundsException"><paramref name="area"/> is not inside the image, or no region fits it under <see cref="GridEdgePolicy.Shift"/>/<see cref="GridEdgePolicy.Drop"/>.</exception>
    public static RegionGrid Create(int imageWidth, int imageHeight, PixelBox area, int regionSize, int chunkSize, GridOrder order, GridEdgePolicy edgePolicy)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(regionSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        if (!Enum.IsDefined(order))
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, $"Unknown grid order; use {string.Join(" or ", Enum.GetNames<GridOrder>())}.");
        }

        if (!Enum.IsDefined(edgePolicy))
        {
            throw new ArgumentOutOfRangeException(nameof(edgePolicy), edgePolicy, $"Unknown edge policy; use {string.Join(", ", Enum.GetNames<GridEdgePolicy>())}.");
        }

        if (chunkSize > regionSize || regionSize % chunkSize != 0)
        {
            throw new ArgumentException(
                $"Chunk size {chunkSize} px does not divide region size {regionSize} px; use one of its divisors: {DescribeDivisors(regionSize)}.",
                nameof(chunkSize));
        }

        var image = new PixelBox(0, 0, imageWidth, imageHeight);
        if (area.IsEmpty || !image.Contains(area))
        {
            throw new RegionOutOfBoundsException(
                $"Grid area {area} (x,y,w,h) does not fit the {imageWidth}×{imageHeight} image: x must be in [0, {imageWidth - 1}], " +
                $"y in [0, {imageHeight - 1}], x + w ≤ {imageWidth} and y + h ≤ {imageHeight}.");
        }

        if (edgePolicy != GridEdgePolicy.Pad && (area.Width < regionSize || area.Height < regionSize))
        {
            string why = edgePolicy == GridEdgePolicy.Shift ? "Shift moves the last region inside the area, so it needs at least one whole region each way" : "Drop keeps only whole regions, and none fits";
            throw new RegionOutOfBoundsException(
                $"The {area.Width}×{area.Height} px grid area is smaller than one {regionSize} px region; {why}. " +
                $"Use GridEdgePolicy.Pad or a region size ≤ {Math.Min(area.Width, area.Height)} px.");
        }

        int[] columnStarts = Starts(area.X, area.Width, regionSize, edgePolicy);
        int[] rowStarts = Starts(area.Y, area.Height, regionSize, edgePolicy);
        long count = (long)columnStarts.Length * rowStarts.Length;
        if (count > MaxRegions)
        {
            throw new ArgumentOutOfRangeException(
                nameof(regionSize), regionSize,
                $"A {regionSize} px grid over {area.Width}×{area.Height} px has {count:N0} regions, more than {MaxRegions:N0}; use a larger region size or a sub-area.");
        }

        if ((long)columnStarts[^1] + regionSize > int.MaxValue || (long)rowStarts[^1] + regionSize > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(regionSize), regionSize, "The padded grid would reach past int.MaxValue px.");
        }

        int rows = rowStarts.Length;
        int columns = columnStarts.Length;
        var cells = new GridCell[count];
        for (int row = 0; row < rows; row++)
        {
            for (int step = 0; step < columns; step++)
            {
                int column = ColumnAt(row, step, columns, order);
                var box = new PixelBox(columnStarts[column], rowStarts[row], regionSize, regionSize);
                PixelBox valid = box.Intersect(area) ?? throw new InvalidOperationException("A grid cell lies outside its area.");
                int index = (row * columns) + step;
                cells[index] = new GridCell(row, column, index, box, valid, chunkSize, order);
            }
        }

        return new RegionGrid(imageWidth, imageHeight, area, regionSize, chunkSize, order, edgePolicy, rows, columns, cells);
    }

    /// <summary>The column visited at position <paramref name="step"/> of row <paramref name="row"/> under <paramref name="order"/>.</summary>
    internal static int ColumnAt(int row, int step, int columns, GridOrder order) =>
        order == GridOrder.ZigZag && row % 2 == 1 ? columns - 1 - step : step;

    /// <summary>Start coordinates of the regions along one axis of length <paramref name="length"/> starting at <paramref name="origin"/>.</summary>
    private static int[] Starts(int origin, int length, int size, GridEdgePolicy policy)
    {
        int whole = length / size;
        bool partial = length % size != 0;
        int n = whole + (partial && policy != GridEdgePolicy.Drop ? 1 : 0);
        var starts = new int[n];
        for (int i = 0; i < n; i++)
        {
            starts[i] = origin + (i * size);
        }

        if (partial && policy == GridEdgePolicy.Shift)
        {
            starts[^1] = origin + length - size; // ends at the edge, overlapping the previous region
        }

        return starts;
    }

    private static string DescribeDivisors(int value)
    {
        var divisors = new List<int>();
        for (int d = 1; (long)d * d <= value; d++)
        {
            if (value % d == 0)
            {
                divisors.Add(d);
                if (d != value / d)
                {
                    divisors.Add(value / d);
                }
            }
        }

        divisors.Sort((a, b) => b.CompareTo(a));
        return divisors.Count <= 12
            ? string.Join(", ", divisors)
            : string.Join(", ", divisors.Take(12)) + ", …";
    }
}
