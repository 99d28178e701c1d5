using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Parallel;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.SequenceParallel;

public sealed class When_video_frames_are_spread_over_several_devices
{
    private static readonly Lazy<LlavaOnevisionForConditionalGeneration> s_model =
        new(() => LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(Fixtures.Dir("llava_onevision")).GetAwaiter().GetResult());

    [Fact]
    public void Shares_are_whole_clips_in_order_and_differ_by_at_most_one_clip()
    {
        Assert.Equal([(0L, 4L), (4L, 3L), (7L, 3L)], ShardedVideoEncoder.FrameShares(10, 3));
        Assert.Equal([(0L, 8L), (8L, 4L)], ShardedVideoEncoder.FrameShares(12, 2, clip: 4));
        Assert.Equal([(0L, 4L), (4L, 4L), (8L, 4L), (12L, 0L)], ShardedVideoEncoder.FrameShares(12, 4, clip: 4));
        Assert.Contains("multiple of the clip length", Assert.Throws<SequenceParallelException>(() => ShardedVideoEncoder.FrameShares(10, 2, clip: 4)).Message);
        Assert.Throws<SequenceParallelException>(() => ShardedVideoEncoder.FrameShares(10, 0));
    }

    [Theory]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(4, true)]   // one rank without a clip
    [InlineData(2, false)]
    [InlineData(3, false)]
    public void The_gathered_features_equal_single_device_encoding(int ranks, bool hico)
    {
        LlavaOnevisionForConditionalGeneration model = s_model.Value;
        VlmOptions? options = hico ? new VlmOptions { TokensPerFrame = 4, VisionBatchSize = 4 } : new VlmOptions { VisionBatchSize = 2 };
        using var generator = new Generator(23, CPU);
        using Tensor frames = randn([2, hico ? 12 : 5, 3, 32, 32], generator: generator);
        using Tensor single = model.EncodeVideos(frames, options);
        using var encoder = new ShardedVideoEncoder(model, Enumerable.Repeat(CPU, ranks).ToArray());
        using Tensor sharded = encoder.Encode(frames, options);
        Assert.Equal(single.shape, sharded.shape);
        TensorAssert.Close(single, sharded, 1e-5);
    }

    [Fact]
    public void Ranks_with_their_own_weight_copies_give_the_same_features()
    {
        LlavaOnevisionForConditionalGeneration model = s_model.Value;
        var options = new VlmOptions { TokensPerFrame = 4 };
        using var generator = new Generator(29, CPU);
        using Tensor frames = randn([1, 8, 3, 32, 32], generator: generator);
        using Tensor single = model.EncodeVideos(frames, options);
        using var encoder = new ShardedVideoEncoder(model, [CPU, CPU], copyPerRank: true);
        Assert.DoesNotContain(model, encoder.Replicas);
        using Tensor sharded = encoder.Encode(frames, options);
        TensorAssert.Close(single, sharded, 1e-5);
    }

    [Fact]
    public void A_frame_count_that_is_not_whole_clips_is_refused()
    {
        using var encoder = new ShardedVideoEncoder(s_model.Value, [CPU, CPU]);
        using Tensor frames = zeros([1L, 6, 3, 32, 32]);
        Assert.Throws<SequenceParallelException>(() => encoder.Encode(frames, new VlmOptions { TokensPerFrame = 4 }));
        using Tensor flat = zeros([6L, 3, 32, 32]);
        Assert.Contains("[B, F, 3, S, S]", Assert.Throws<SequenceParallelException>(() => encoder.Encode(flat)).Message);
    }
}
