using NetVips;
using VideoLong.Ingest.Images;

namespace VideoLong.Ingest.Tests.Images;

public sealed class When_an_image_is_not_8_bit_rgb : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private ImageRegion ReadWhole(Image source, string name)
    {
        string path = _folder.File(name);
        source.Pngsave(path);
        using LargeImage image = LargeImage.Open(path);
        return image.ReadRegion(image.Bounds);
    }

    [Fact]
    public void Grey_is_copied_into_r_g_and_b()
    {
        byte[] grey = TestImages.Noise(20, 10, 1, seed: 10);
        using Image source = TestImages.ToVips(grey, 20, 10, 1);

        ImageRegion region = ReadWhole(source, "grey.png");

        Assert.Equal(TestImages.GreyToRgb(grey), region.Pixels);
    }

    [Fact]
    public void Grey_in_a_tiled_tiff_is_copied_into_r_g_and_b()
    {
        var tiff = new TestTiff { Width = 40, Height = 24, Samples = 1, TileSize = 16, Deflate = true };
        string path = tiff.WriteTo(_folder.File("grey.tif"));
        using LargeImage image = LargeImage.Open(path);

        ImageRegion region = image.ReadRegion(image.Bounds);

        Assert.Equal(1, image.Bands);
        Assert.Equal(TestImages.GreyToRgb(tiff.PixelData), region.Pixels);
    }

    [Fact]
    public void Alpha_is_flattened_onto_black()
    {
        // Pixel 0 opaque, pixel 1 transparent, pixel 2 half transparent.
        byte[] rgba = [200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128];
        using Image source = TestImages.ToVips(rgba, 3, 1, 4);

        ImageRegion region = ReadWhole(source, "rgba.png");

        Assert.Equal([200, 100, 50, 0, 0, 0], region.Pixels[..6]);
        Assert.InRange(region.Pixels[6], 100 - 1, 100 + 1); // 200 · 128/255 ≈ 100.4
        Assert.InRange(region.Pixels[7], 50 - 1, 50 + 1);
        Assert.InRange(region.Pixels[8], 25 - 1, 25 + 1);
    }

    [Fact]
    public void Grey_with_alpha_is_flattened_then_copied_into_r_g_and_b()
    {
        byte[] greyAlpha = [90, 255, 90, 0];
        using Image source = TestImages.ToVips(greyAlpha, 2, 1, 2);

        ImageRegion region = ReadWhole(source, "grey-alpha.png");

        Assert.Equal([90, 90, 90, 0, 0, 0], region.Pixels);
    }

    [Fact]
    public void Sixteen_bit_samples_are_scaled_to_the_nearest_8_bit_value()
    {
        // ⌊v · 255/65535 + 0.5⌋: 0 → 0, 257 → 1, 385 → 1 (1.498), 386 → 2 (1.502), 32768 → 128, 65535 → 255.
        ushort[] samples = [0, 257, 385, 386, 32768, 65535];
        using Image source = TestImages.ToVips16(samples, 2, 1, 3);

        ImageRegion region = ReadWhole(source, "rgb16.png");

        Assert.Equal([0, 1, 1, 2, 128, 255], region.Pixels);
    }

    [Fact]
    public void Sixteen_bit_grey_with_alpha_is_flattened_scaled_and_copied()
    {
        ushort[] samples = [65535, 65535, 65535, 0, 1000, 65535];
        using Image source = TestImages.ToVips16(samples, 3, 1, 2);

        ImageRegion region = ReadWhole(source, "grey16-alpha.png");

        Assert.Equal([255, 255, 255, 0, 0, 0, 4, 4, 4], region.Pixels); // 1000/257 = 3.89 → 4
    }

    [Fact]
    public void The_stored_bands_and_sample_format_are_reported()
    {
        using Image source = TestImages.ToVips16([1, 2, 3, 4], 2, 1, 2);
        string path = _folder.File("grey16.png");
        source.Pngsave(path);

        using LargeImage image = LargeImage.Open(path);

        Assert.Equal((2, "ushort", true), (image.Bands, image.SampleFormat, image.HasAlpha));
    }
}

public sealed class When_an_image_has_another_colour_space_or_sample_format : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Cmyk_is_converted_to_srgb()
    {
        // A flat colour survives CMYK and back within ±15 levels (an ICC round trip through a smaller gamut).
        byte[] rgb = [.. Enumerable.Repeat(new byte[] { 200, 60, 30 }, 16 * 16).SelectMany(p => p)];
        string path = _folder.File("cmyk.tif");
        using (Image source = TestImages.ToVips(rgb, 16, 16, 3))
        using (Image cmyk = source.Colourspace(Enums.Interpretation.Cmyk))
        {
            Assert.Equal(4, cmyk.Bands);
            cmyk.Tiffsave(path);
        }

        using LargeImage image = LargeImage.Open(path);
        ImageRegion region = image.ReadRegion(image.Bounds);

        Assert.Equal(4, image.Bands);
        Assert.False(image.HasAlpha);
        (byte r, byte g, byte b) = region.PixelAt(8, 8);
        Assert.InRange(r, 185, 215);
        Assert.InRange(g, 45, 75);
        Assert.InRange(b, 15, 45);
    }

    [Fact]
    public void Float_grey_is_clamped_and_truncated_without_scaling()
    {
        float[] samples = [-5f, 0.4f, 100.7f, 300f];
        string path = _folder.File("float.tif");
        using (Image raw = Image.NewFromMemory(samples, 4, 1, 1, Enums.BandFormat.Float))
        using (Image grey = raw.Copy(interpretation: Enums.Interpretation.Bw))
        {
            grey.Tiffsave(path);
        }

        using LargeImage image = LargeImage.Open(path);

        Assert.Equal("float", image.SampleFormat);
        Assert.Equal(TestImages.GreyToRgb([0, 0, 100, 255]), image.ReadRegion(image.Bounds).Pixels);
    }
}
