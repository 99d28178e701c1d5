using TorchSharp;

namespace VideoLong.Vision.Tests.Preprocessing;

public sealed class When_an_image_is_cut_into_anyres_tiles
{
    [Fact]
    [Trait("Category", "Parity")]
    public void The_tiles_match_transformers_llava_onevision_image_processor()
    {
        // The fixture's processor: size 32, grid pinpoints [[32,32],[32,64],[64,32],[64,64]], bicubic, CLIP mean/std.
        using torch.Tensor image = Fixtures.Reference("llava_onevision", "image_rgb");          // [24, 40, 3] uint8
        using torch.Tensor expected = Fixtures.Reference("llava_onevision", "image_pixel_values"); // [1, 3, 3, 32, 32]
        byte[] rgb = image.data<byte>().ToArray();
        using torch.Tensor actual = AnyresImageProcessor.Process(rgb, 40, 24, 32, [(32, 32), (32, 64), (64, 32), (64, 64)], PixelNormalization.Clip);
        Assert.Equal(expected.shape, actual.shape);

        // Measured: 41 of 9,216 values (0.45 %) differ by one 8-bit level (1/255/std ≈ 0.0151), the rest to 1e-6: our
        // Pillow-exact bicubic and transformers 5's resize round a few pixels differently. Anything more is a real bug.
        using torch.Tensor diff = (actual - expected).abs();
        Assert.True(diff.max().item<float>() <= 0.0152f, $"max diff {diff.max().item<float>()}");
        long offByOne = (diff > 1e-5).sum().item<long>();
        Assert.True(offByOne <= diff.numel() / 100, $"{offByOne} values differ");
    }

    [Fact]
    public void Pillow_bicubic_keeps_a_flat_image_flat_and_identity_is_exact()
    {
        byte[] flat = Enumerable.Repeat((byte)77, 10 * 6 * 3).ToArray();
        Assert.All(PilResize.Bicubic(flat, 10, 6, 4, 3), b => Assert.Equal(77, b));
        Assert.All(PilResize.Bicubic(flat, 10, 6, 23, 17), b => Assert.Equal(77, b));
        byte[] noise = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)(i * 37)).ToArray();
        Assert.Equal(noise, PilResize.Bicubic(noise, 5, 4, 5, 4));
    }

    [Fact]
    public void The_wide_image_chooses_the_wide_grid()
    {
        Assert.Equal((32, 64), AnyresImageProcessor.SelectBestResolution(24, 40, [(32, 32), (32, 64), (64, 32), (64, 64)]));
        Assert.Throws<VideoLongException>(() => AnyresImageProcessor.SelectBestResolution(24, 40, []));
    }
}
