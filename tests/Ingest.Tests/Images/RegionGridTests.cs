using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_a_region_grid_is_built
{
    private static (int Row, int Column)[] Positions(RegionGrid grid) => grid.Cells.Select(c => (c.Row, c.Column)).ToArray();

    [Fact]
    public void A_512px_image_with_256px_regions_has_four_regions_in_row_major_order()
    {
        // ALGORITHMS.md §8.4: nested tokenization of 512×512 with R = 256 gives 4 regions in row-major order.
        RegionGrid grid = RegionGrid.Create(512, 512, 256, 256, GridOrder.Raster, GridEdgePolicy.Pad);

        Assert.Equal((2, 2, 4), (grid.Rows, grid.Columns, grid.Count));
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1)], Positions(grid));
        Assert.Equal(
            [new PixelBox(0, 0, 256, 256), new PixelBox(256, 0, 256, 256), new PixelBox(0, 256, 256, 256), new PixelBox(256, 256, 256, 256)],
            grid.Cells.Select(c => c.Box));
        Assert.Equal([0, 1, 2, 3], grid.Cells.Select(c => c.Index));
        Assert.All(grid.Cells, c => Assert.False(c.IsPadded));
    }

    [Fact]
    public void Raster_order_visits_every_row_left_to_right()
    {
        RegionGrid grid = RegionGrid.Create(30, 30, 10, 10, GridOrder.Raster, GridEdgePolicy.Pad);

        Assert.Equal([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)], Positions(grid));
    }

    [Fact]
    public void Zig_zag_order_reverses_every_odd_row()
    {
        RegionGrid grid = RegionGrid.Create(30, 40, 10, 10, GridOrder.ZigZag, GridEdgePolicy.Pad);

        Assert.Equal(
            [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2), (3, 2), (3, 1), (3, 0)],
            Positions(grid));
        Assert.Equal(Enumerable.Range(0, 12), grid.Cells.Select(c => c.Index));
        Assert.Equal(new PixelBox(20, 10, 10, 10), grid.Cells[3].Box);
    }

    [Fact]
    public void At_finds_a_cell_by_grid_position_in_either_order()
    {
        foreach (GridOrder order in Enum.GetValues<GridOrder>())
        {
            RegionGrid grid = RegionGrid.Create(30, 30, 10, 10, order, GridEdgePolicy.Pad);

            Assert.All(
                from row in Enumerable.Range(0, 3) from column in Enumerable.Range(0, 3) select (row, column),
                p => Assert.Equal(p, (grid.At(p.row, p.column).Row, grid.At(p.row, p.column).Column)));
        }
    }

    [Fact]
    public void Pad_extends_the_last_regions_past_the_edge_and_records_the_valid_part()
    {
        RegionGrid grid = RegionGrid.Create(600, 300, 256, 256, GridOrder.Raster, GridEdgePolicy.Pad);

        Assert.Equal((2, 3), (grid.Rows, grid.Columns));
        GridCell corner = grid.At(1, 2);
        Assert.Equal(new PixelBox(512, 256, 256, 256), corner.Box);
        Assert.Equal(new PixelBox(512, 256, 88, 44), corner.Valid);
        Assert.True(corner.IsPadded);
        Assert.Equal(new PixelBox(256, 0, 256, 256), grid.At(0, 1).Valid);
    }

    [Fact]
    public void Shift_moves_the_last_regions_inward_to_end_at_the_edge()
    {
        RegionGrid grid = RegionGrid.Create(600, 300, 256, 256, GridOrder.Raster, GridEdgePolicy.Shift);

        Assert.Equal((2, 3), (grid.Rows, grid.Columns));
        Assert.Equal([0, 256, 344], grid.Cells.Where(c => c.Row == 0).Select(c => c.Box.X));
        Assert.Equal([0, 44], grid.Cells.Where(c => c.Column == 0).Select(c => c.Box.Y));
        Assert.Equal(new PixelBox(344, 44, 256, 256), grid.At(1, 2).Box);
        Assert.All(grid.Cells, c => Assert.False(c.IsPadded));
        Assert.All(grid.Cells, c => Assert.True(new PixelBox(0, 0, 600, 300).Contains(c.Box)));
    }

    [Fact]
    public void Drop_leaves_out_partial_regions()
    {
        RegionGrid grid = RegionGrid.Create(600, 300, 256, 256, GridOrder.ZigZag, GridEdgePolicy.Drop);

        Assert.Equal((1, 2, 2), (grid.Rows, grid.Columns, grid.Count));
        Assert.Equal([new PixelBox(0, 0, 256, 256), new PixelBox(256, 0, 256, 256)], grid.Cells.Select(c => c.Box));
    }

    [Theory]
    [InlineData(GridEdgePolicy.Pad)]
    [InlineData(GridEdgePolicy.Shift)]
    [InlineData(GridEdgePolicy.Drop)]
    public void Every_policy_gives_the_same_grid_when_the_size_is_a_multiple_of_the_region(GridEdgePolicy policy)
    {
        RegionGrid grid = RegionGrid.Create(768, 512, 256, 128, GridOrder.Raster, policy);

        Assert.Equal((2, 3), (grid.Rows, grid.Columns));
        Assert.Equal(new PixelBox(512, 256, 256, 256), grid.Cells[^1].Box);
        Assert.All(grid.Cells, c => Assert.False(c.IsPadded));
    }

    [Fact]
    public void A_sub_area_is_gridded_in_image_coordinates()
    {
        var area = new PixelBox(100, 50, 300, 200);

        RegionGrid grid = RegionGrid.Create(1000, 800, area, 128, 64, GridOrder.Raster, GridEdgePolicy.Pad);

        Assert.Equal(area, grid.Area);
        Assert.Equal((2, 3), (grid.Rows, grid.Columns));
        Assert.Equal(new PixelBox(100, 50, 128, 128), grid.Cells[0].Box);
        GridCell last = grid.Cells[^1];
        Assert.Equal(new PixelBox(356, 178, 128, 128), last.Box);
        Assert.Equal(new PixelBox(356, 178, 44, 72), last.Valid); // clipped to the area, not to the image
    }

    [Fact]
    public void A_sub_area_with_shift_stays_inside_the_area()
    {
        var area = new PixelBox(100, 50, 300, 200);

        RegionGrid grid = RegionGrid.Create(1000, 800, area, 128, 128, GridOrder.Raster, GridEdgePolicy.Shift);

        Assert.Equal(new PixelBox(272, 122, 128, 128), grid.Cells[^1].Box);
        Assert.All(grid.Cells, c => Assert.True(area.Contains(c.Box)));
    }

    [Fact]
    public void Chunks_cut_each_region_in_raster_order()
    {
        RegionGrid grid = RegionGrid.Create(512, 512, 256, 128, GridOrder.Raster, GridEdgePolicy.Pad);
        GridCell cell = grid.At(0, 1);

        IReadOnlyList<GridChunk> chunks = cell.Chunks;

        Assert.Equal((2, 4), (grid.ChunksPerSide, grid.ChunksPerRegion));
        Assert.Equal(
            [new PixelBox(256, 0, 128, 128), new PixelBox(384, 0, 128, 128), new PixelBox(256, 128, 128, 128), new PixelBox(384, 128, 128, 128)],
            chunks.Select(c => c.Box));
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1)], chunks.Select(c => (c.Row, c.Column)));
        Assert.Equal([0, 1, 2, 3], chunks.Select(c => c.Index));
    }

    [Fact]
    public void Chunks_follow_the_zig_zag_order_of_the_grid()
    {
        RegionGrid grid = RegionGrid.Create(96, 96, 96, 32, GridOrder.ZigZag, GridEdgePolicy.Pad);

        IReadOnlyList<GridChunk> chunks = grid.Cells[0].Chunks;

        Assert.Equal([(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2)], chunks.Select(c => (c.Row, c.Column)));
        Assert.Equal(new PixelBox(64, 32, 32, 32), chunks[3].Box);
    }

    [Fact]
    public void Chunks_of_a_padded_region_record_their_valid_part_and_all_padding_ones_have_none()
    {
        RegionGrid grid = RegionGrid.Create(300, 100, 256, 64, GridOrder.Raster, GridEdgePolicy.Pad);
        GridCell cell = grid.At(0, 1); // box 256,0,256,256; valid 256,0,44,100

        IReadOnlyList<GridChunk> chunks = cell.Chunks;

        Assert.Equal(16, chunks.Count);
        Assert.Equal(new PixelBox(256, 0, 44, 64), chunks[0].Valid);
        Assert.Equal(new PixelBox(256, 64, 44, 36), chunks[4].Valid);
        Assert.Null(chunks[1].Valid);
        Assert.Equal(2, chunks.Count(c => c.Valid is not null));
    }

    [Theory]
    [InlineData(256, 96, "Chunk size 96 px does not divide region size 256 px; use one of its divisors: 256, 128, 64, 32, 16, 8, 4, 2, 1.")]
    [InlineData(256, 512, "Chunk size 512 px does not divide region size 256 px")]
    public void A_chunk_size_that_does_not_divide_the_region_size_is_refused(int region, int chunk, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => RegionGrid.Create(1024, 1024, region, chunk, GridOrder.Raster, GridEdgePolicy.Pad));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.Equal("chunkSize", error.ParamName);
    }

    [Theory]
    [InlineData(0, 100, 10, 10)]
    [InlineData(100, -1, 10, 10)]
    [InlineData(100, 100, 0, 1)]
    [InlineData(100, 100, 10, 0)]
    public void Non_positive_sizes_are_refused(int width, int height, int region, int chunk)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RegionGrid.Create(width, height, region, chunk, GridOrder.Raster, GridEdgePolicy.Pad));
    }

    [Fact]
    public void An_area_outside_the_image_is_refused_with_the_valid_range()
    {
        var error = Assert.Throws<RegionOutOfBoundsException>(() =>
            RegionGrid.Create(640, 480, new PixelBox(600, 0, 100, 100), 64, 64, GridOrder.Raster, GridEdgePolicy.Pad));

        Assert.Equal(
            "Grid area 600,0,100,100 (x,y,w,h) does not fit the 640×480 image: x must be in [0, 639], y in [0, 479], x + w ≤ 640 and y + h ≤ 480.",
            error.Message);
    }

    [Theory]
    [InlineData(GridEdgePolicy.Shift, "Shift moves the last region inside the area")]
    [InlineData(GridEdgePolicy.Drop, "Drop keeps only whole regions, and none fits")]
    public void An_area_smaller_than_one_region_needs_pad(GridEdgePolicy policy, string reason)
    {
        var error = Assert.Throws<RegionOutOfBoundsException>(() => RegionGrid.Create(300, 200, 256, 256, GridOrder.Raster, policy));

        Assert.Contains("The 300×200 px grid area is smaller than one 256 px region", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Contains("Use GridEdgePolicy.Pad or a region size ≤ 200 px", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_area_smaller_than_one_region_is_one_padded_cell_under_pad()
    {
        RegionGrid grid = RegionGrid.Create(300, 200, 512, 256, GridOrder.Raster, GridEdgePolicy.Pad);

        GridCell cell = Assert.Single(grid.Cells);
        Assert.Equal(new PixelBox(0, 0, 300, 200), cell.Valid);
        Assert.Equal(new PixelBox(0, 0, 512, 512), cell.Box);
    }

    [Fact]
    public void Too_many_regions_are_refused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            RegionGrid.Create(100_000, 100_000, 16, 16, GridOrder.Raster, GridEdgePolicy.Pad));

        Assert.Contains("39,062,500 regions, more than 1,000,000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_undefined_order_or_policy_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RegionGrid.Create(10, 10, 5, 5, (GridOrder)7, GridEdgePolicy.Pad));
        Assert.Throws<ArgumentOutOfRangeException>(() => RegionGrid.Create(10, 10, 5, 5, GridOrder.Raster, (GridEdgePolicy)7));
    }
}

public sealed class When_a_grid_cell_is_read : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly TestTiff _tiff = new() { Width = 100, Height = 70, TileSize = 32, Deflate = true };
    private readonly LargeImage _image;

    public When_a_grid_cell_is_read()
    {
        _image = LargeImage.Open(_tiff.WriteTo(_folder.File("image.tif")));
    }

    public void Dispose()
    {
        _image.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public void A_padded_cell_holds_image_pixels_in_its_valid_part_and_zeros_elsewhere()
    {
        RegionGrid grid = RegionGrid.Create(_image.Width, _image.Height, 64, 32, GridOrder.Raster, GridEdgePolicy.Pad);
        GridCell cell = grid.At(1, 1); // box 64,64,64,64; valid 64,64,36,6

        ImageRegion region = _image.ReadRegion(cell);

        Assert.Equal(cell.Box, region.Box);
        Assert.Equal(new PixelBox(64, 64, 36, 6), region.Valid);
        Assert.True(region.IsPadded);
        ImageRegion strict = _image.ReadRegion(new PixelBox(64, 64, 36, 6));
        Assert.Equal(strict.Pixels, region.Slice(new PixelBox(64, 64, 36, 6)).Pixels);
        Assert.Equal((0, 0, 0), region.PixelAt(100, 64));
        Assert.Equal((0, 0, 0), region.PixelAt(64, 70));
        Assert.Equal(64 * 64 * 3 - (36 * 6 * 3), region.Pixels.Count(b => b == 0) - strict.Pixels.Count(b => b == 0));
    }

    [Fact]
    public void A_full_cell_equals_a_plain_region_read()
    {
        RegionGrid grid = RegionGrid.Create(_image.Width, _image.Height, 32, 16, GridOrder.ZigZag, GridEdgePolicy.Shift);

        Assert.All(grid.Cells, cell => Assert.Equal(
            TestImages.CropRgb(_tiff.PixelData, 100, cell.Box),
            _image.ReadRegion(cell).Pixels));
    }

    [Fact]
    public void Chunks_sliced_from_a_cell_equal_direct_reads()
    {
        RegionGrid grid = RegionGrid.Create(_image.Width, _image.Height, 64, 16, GridOrder.Raster, GridEdgePolicy.Drop);
        GridCell cell = grid.Cells[0];
        ImageRegion region = _image.ReadRegion(cell);

        Assert.All(cell.Chunks, chunk => Assert.Equal(_image.ReadRegion(chunk.Box).Pixels, region.Slice(chunk.Box).Pixels));
    }

    [Fact]
    public void A_chunk_in_padding_slices_to_zeros_without_a_valid_part()
    {
        RegionGrid grid = RegionGrid.Create(_image.Width, _image.Height, 64, 16, GridOrder.Raster, GridEdgePolicy.Pad);
        GridCell cell = grid.At(1, 1);
        ImageRegion region = _image.ReadRegion(cell);
        GridChunk padding = cell.Chunks[^1];

        ImageRegion slice = region.Slice(padding.Box);

        Assert.Null(padding.Valid);
        Assert.Null(slice.Valid);
        Assert.All(slice.Pixels, b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_cell_from_a_grid_for_a_larger_image_is_refused()
    {
        RegionGrid grid = RegionGrid.Create(1000, 1000, 256, 256, GridOrder.Raster, GridEdgePolicy.Pad);

        var error = Assert.Throws<RegionOutOfBoundsException>(() => _image.ReadRegion(grid.At(1, 1)));

        Assert.Contains("was the grid made for another image size?", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slice_outside_the_region_is_refused()
    {
        ImageRegion region = _image.ReadRegion(new PixelBox(10, 10, 20, 20));

        var error = Assert.Throws<RegionOutOfBoundsException>(() => region.Slice(new PixelBox(25, 10, 10, 10)));

        Assert.Contains("x must be in [10, 29]", error.Message, StringComparison.Ordinal);
    }
}
