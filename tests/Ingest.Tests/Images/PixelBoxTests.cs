using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_a_pixel_box_is_made
{
    [Fact]
    public void It_knows_its_edges_and_area()
    {
        var box = new PixelBox(10, 20, 30, 40);

        Assert.Equal((40, 60, 1200L), (box.Right, box.Bottom, box.Area));
        Assert.Equal("10,20,30,40", box.ToString());
    }

    [Theory]
    [InlineData("0,0,1024,1024", 0, 0, 1024, 1024)]
    [InlineData(" 5, 6 ,7,8 ", 5, 6, 7, 8)]
    public void It_parses_x_y_w_h(string text, int x, int y, int w, int h)
    {
        Assert.Equal(new PixelBox(x, y, w, h), PixelBox.Parse(text));
    }

    [Theory]
    [InlineData("1,2,3")]
    [InlineData("1,2,3,four")]
    [InlineData("-1,0,3,3")]
    [InlineData("0,0,0,3")]
    [InlineData("2147483647,0,10,10")]
    public void Malformed_text_is_a_format_error_that_shows_the_syntax(string text)
    {
        var error = Assert.Throws<FormatException>(() => PixelBox.Parse(text));

        Assert.Contains($"'{text}' is not a pixel box", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_box_reaching_past_int_max_cannot_be_made()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PixelBox(int.MaxValue - 5, 0, 10, 10));
    }

    [Fact]
    public void Intersections_are_computed_and_disjoint_boxes_have_none()
    {
        var a = new PixelBox(0, 0, 10, 10);

        Assert.Equal(new PixelBox(5, 5, 5, 5), a.Intersect(new PixelBox(5, 5, 10, 10)));
        Assert.Null(a.Intersect(new PixelBox(10, 0, 5, 5)));
        Assert.True(a.Contains(new PixelBox(0, 0, 10, 10)));
        Assert.False(a.Contains(new PixelBox(1, 1, 10, 10)));
        Assert.True(default(PixelBox).IsEmpty);
    }
}
