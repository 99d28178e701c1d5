using VideoLong.Vision.Compression;

namespace VideoLong.Vision.Tests.Compression;

[Trait("Category", "HiCo")]
public sealed class When_the_HiCo_merge_schedule_is_computed
{
    [Fact]
    public void A_448px_clip_of_3136_tokens_takes_six_rounds_to_64() =>
        Assert.Equal([1568, 784, 392, 196, 98, 34], HicoMergeSchedule.Compute(3136, 64));

    [Fact]
    public void A_224px_clip_of_784_tokens_takes_four_rounds_to_64() =>
        Assert.Equal([392, 196, 98, 34], HicoMergeSchedule.Compute(784, 64));

    [Fact]
    public void A_224px_image_tile_of_196_tokens_takes_two_rounds_to_64() =>
        Assert.Equal([98, 34], HicoMergeSchedule.Compute(196, 64));

    [Theory]
    [InlineData(65, 64)]
    [InlineData(129, 64)]
    [InlineData(128, 64)]
    [InlineData(3136, 64)]
    [InlineData(1000, 1)]
    [InlineData(2, 1)]
    [InlineData(4097, 7)]
    public void Every_round_removes_at_most_half_and_the_last_lands_exactly_on_K(int p, int k)
    {
        int current = p;
        foreach (int r in HicoMergeSchedule.Compute(p, k))
        {
            Assert.InRange(r, 1, current / 2);
            current -= r;
        }

        Assert.Equal(k, current);
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(10, 64)]
    [InlineData(0, 64)]
    public void P_not_above_K_is_an_error_that_states_the_valid_values(int p, int k)
    {
        VideoLongException e = Assert.Throws<VideoLongException>(() => HicoMergeSchedule.Compute(p, k));
        Assert.Contains($"{p} tokens down to {k}", e.Message);
        Assert.Contains($"P > {k}", e.Message);
    }

    [Fact]
    public void A_target_below_one_is_an_error() =>
        Assert.Throws<VideoLongException>(() => HicoMergeSchedule.Compute(196, 0));
}
