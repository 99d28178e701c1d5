namespace VideoLong.Vision.Tests;

public sealed class When_a_frame_is_normalised_for_a_vision_tower
{
    [Fact]
    public void Siglip_maps_0_and_255_to_minus_one_and_one_in_planar_order()
    {
        // 2x1 frame: pixel 0 = (0, 255, 51), pixel 1 = (255, 0, 102)
        byte[] rgb = [0, 255, 51, 255, 0, 102];
        float[] planar = new float[6];
        PixelNormalizer.ToPlanar(rgb, 2, 1, PixelNormalization.Siglip, planar);
        // torch: ((torch.tensor(rgb).view(1,2,3).permute(2,0,1)/255 - 0.5)/0.5).flatten()
        float[] expected = [-1f, 1f, 1f, -1f, -0.6f, -0.2f];
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(expected[i], planar[i], 1e-6f);
        }
    }

    [Fact]
    public void ImageNet_statistics_are_applied_per_channel()
    {
        byte[] rgb = [124, 116, 104];      // ≈ the ImageNet mean
        float[] planar = new float[3];
        PixelNormalizer.ToPlanar(rgb, 1, 1, PixelNormalization.ImageNet, planar);
        Assert.All(planar, v => Assert.InRange(v, -0.02f, 0.02f));
    }

    [Fact]
    public void Mismatched_sizes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => PixelNormalizer.ToPlanar(new byte[5], 2, 1, PixelNormalization.Siglip, new float[6]));
        Assert.Throws<ArgumentException>(() => PixelNormalizer.ToPlanar(new byte[6], 2, 1, PixelNormalization.Siglip, new float[5]));
        Assert.Throws<ArgumentException>(() => PixelNormalizer.ToPlanar(new byte[3], 1, 1, new PixelNormalization([0, 0, 0], [1, 0, 1]), new float[3]));
    }
}
