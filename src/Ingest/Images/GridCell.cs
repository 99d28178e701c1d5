namespace VideoLong.Ingest.Images;

/// <summary>One chunk of a <see cref="GridCell"/>: a <c>ChunkSize</c>² square at a fixed position in the cell.</summary>
/// <param name="Row">Chunk row inside the cell (0 at the top).</param>
/// <param name="Column">Chunk column inside the cell (0 at the left).</param>
/// <param name="Index">Position in the cell's traversal order (0-based).</param>
/// <param name="Box">The chunk in image coordinates.</param>
/// <param name="Valid">The part of <paramref name="Box"/> inside the gridded area; null when the chunk is all padding.</param>
public readonly record struct GridChunk(int Row, int Column, int Index, PixelBox Box, PixelBox? Valid);

/// <summary>One region of a <see cref="RegionGrid"/>.</summary>
public sealed record GridCell
{
    internal GridCell(int row, int column, int index, PixelBox box, PixelBox valid, int chunkSize, GridOrder order)
    {
        Row = row;
        Column = column;
        Index = index;
        Box = box;
        Valid = valid;
        ChunkSize = chunkSize;
        Order = order;
    }

    /// <summary>Grid row (0 at the top of the area).</summary>
    public int Row { get; }

    /// <summary>Grid column (0 at the left of the area).</summary>
    public int Column { get; }

    /// <summary>Position in the grid's traversal order (0-based); equal to the cell's index in <see cref="RegionGrid.Cells"/>.</summary>
    public int Index { get; }

    /// <summary>The region in image coordinates: always <c>RegionSize</c>² (under <see cref="GridEdgePolicy.Pad"/> it may extend past the area).</summary>
    public PixelBox Box { get; }

    /// <summary>The part of <see cref="Box"/> inside the gridded area; equal to <see cref="Box"/> unless the cell is padded.</summary>
    public PixelBox Valid { get; }

    /// <summary>Side of each chunk in pixels.</summary>
    public int ChunkSize { get; }

    /// <summary>Traversal order of the chunks, the same kind as the grid's.</summary>
    public GridOrder Order { get; }

    /// <summary>True when part of the cell lies outside the gridded area (and reads as zeros).</summary>
    public bool IsPadded => Valid != Box;

    /// <summary>Number of chunks per side: RegionSize / ChunkSize.</summary>
    public int ChunksPerSide => Box.Width / ChunkSize;

    /// <summary>
    /// The cell's (RegionSize / ChunkSize)² chunks in traversal order (computed on each access; a grid over a large
    /// image would otherwise hold millions of them). Under <see cref="GridEdgePolicy.Pad"/> chunks lying wholly past
    /// the area are kept, with a null <see cref="GridChunk.Valid"/>, so every cell has the same number of chunks.
    /// </summary>
    public IReadOnlyList<GridChunk> Chunks
    {
        get
        {
            int side = ChunksPerSide;
            var chunks = new GridChunk[side * side];
            for (int row = 0; row < side; row++)
            {
                for (int step = 0; step < side; step++)
                {
                    int column = RegionGrid.ColumnAt(row, step, side, Order);
                    var box = new PixelBox(Box.X + (column * ChunkSize), Box.Y + (row * ChunkSize), ChunkSize, ChunkSize);
                    int index = (row * side) + step;
                    chunks[index] = new GridChunk(row, column, index, box, box.Intersect(Valid));
                }
            }

            return chunks;
        }
    }
}
