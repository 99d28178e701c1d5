using TorchSharp;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.LlavaOnevision;

[Trait("Category", "Parity")]
public sealed class When_llava_onevision_reads_the_reference_image_and_video
{
    private const string Name = "llava_onevision";

    private static readonly Lazy<LlavaOnevisionForConditionalGeneration> s_model =
        new(() => LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(Fixtures.Dir(Name)).GetAwaiter().GetResult());

    [Fact]
    public void The_image_tokens_are_spliced_as_transformers_does_and_the_logits_match()
    {
        using Tensor ids = Fixtures.Reference(Name, "image_input_ids");
        using Tensor pixels = Fixtures.Reference(Name, "image_pixel_values");
        using Tensor sizes = Fixtures.Reference(Name, "image_sizes");
        var input = new LlavaOnevisionInput { InputIds = ids, PixelValues = pixels, ImageSizes = sizes };

        using Tensor embeds = s_model.Value.BuildInputsEmbeds(input);
        using Tensor expectedEmbeds = Fixtures.Reference(Name, "image_inputs_embeds");
        TensorAssert.Close(expectedEmbeds, embeds, 1e-5);

        using Qwen2CausalLMOutput output = s_model.Value.forward(input);
        using Tensor expected = Fixtures.Reference(Name, "image_logits");
        TensorAssert.Close(expected, output.Logits, 1e-4);
    }

    [Fact]
    public void The_image_token_count_follows_anyres()
    {
        using Tensor ids = Fixtures.Reference(Name, "image_input_ids");
        using Tensor sizes = Fixtures.Reference(Name, "image_sizes");
        long placeholders = ids.eq(s_model.Value.Config.ImageTokenIndex).sum().item<long>();
        long[] hw = sizes[0].data<long>().ToArray();
        Assert.Equal(placeholders, s_model.Value.ImageTokenCount((int)hw[0], (int)hw[1]));
    }

    [Fact]
    public void The_video_frames_are_pooled_and_the_logits_match()
    {
        using Tensor ids = Fixtures.Reference(Name, "video_input_ids");
        using Tensor frames = Fixtures.Reference(Name, "video_pixel_values");
        var input = new LlavaOnevisionInput { InputIds = ids, PixelValuesVideos = frames };

        using Tensor embeds = s_model.Value.BuildInputsEmbeds(input);
        using Tensor expectedEmbeds = Fixtures.Reference(Name, "video_inputs_embeds");
        TensorAssert.Close(expectedEmbeds, embeds, 1e-5);

        using Qwen2CausalLMOutput output = s_model.Value.forward(input);
        using Tensor expected = Fixtures.Reference(Name, "video_logits");
        TensorAssert.Close(expected, output.Logits, 1e-4);
    }

    [Fact]
    public void Placeholders_that_do_not_match_the_features_are_refused()
    {
        using Tensor ids = Fixtures.Reference(Name, "video_input_ids");
        using Tensor frames = Fixtures.Reference(Name, "video_pixel_values");
        using Tensor fewer = frames.narrow(1, 0, 2);      // 2 frames for a prompt expanded for 4
        var e = Assert.Throws<TokenFeatureMismatchException>(() =>
            s_model.Value.BuildInputsEmbeds(new LlavaOnevisionInput { InputIds = ids, PixelValuesVideos = fewer }).Dispose());
        Assert.Equal(17, e.Tokens);
        Assert.Equal(9, e.Features);
    }
}

public sealed class When_anyres_chooses_a_resolution
{
    [Theory]
    [InlineData(24, 40, 32, 64)]     // wide image: the wide grid keeps the most pixels
    [InlineData(40, 24, 64, 32)]
    [InlineData(100, 100, 64, 64)]
    [InlineData(10, 10, 32, 32)]     // small image: every grid keeps all pixels, the smallest wastes least
    public void It_keeps_the_most_pixels_and_wastes_the_least(int h, int w, int bestH, int bestW) =>
        Assert.Equal((bestH, bestW), LlavaOnevisionForConditionalGeneration.SelectBestResolution(h, w, [(32, 32), (32, 64), (64, 32), (64, 64)]));

    [Fact]
    public void Unpadding_removes_the_letterbox()
    {
        // a 24x40 image in a 4x8 feature grid: the height fills; width int(40·4/24) = int(6.67) = 6, one column off each side
        Assert.Equal((4, 6), LlavaOnevisionForConditionalGeneration.UnpaddedSize(4, 8, 24, 40));
        Assert.Equal((2, 8), LlavaOnevisionForConditionalGeneration.UnpaddedSize(4, 8, 10, 40));
        Assert.Equal((8, 4), LlavaOnevisionForConditionalGeneration.UnpaddedSize(8, 8, 40, 20));
    }
}

[Trait("Category", "HiCo")]
public sealed class When_llava_onevision_reads_a_video_through_hico
{
    [Fact]
    public async Task The_frames_are_merged_to_the_requested_tokens_per_frame_before_the_projector()
    {
        using LlavaOnevisionForConditionalGeneration model = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(Fixtures.Dir("llava_onevision"));
        using Tensor frames = Fixtures.Reference("llava_onevision", "video_pixel_values");     // [1, 4, 3, 32, 32], 16 patches a frame
        var options = new VlmOptions { TokensPerFrame = 4 };
        Assert.Equal(17, model.VideoTokenCount(4, options));                                  // 4 frames x 4 + newline
        Assert.Equal(17, model.VideoTokenCount(4));                                           // 2x2 pooling of 4x4 also gives 4

        using Tensor merged = model.EncodeVideos(frames, options);
        Assert.Equal(new long[] { 17, model.Config.TextConfig.HiddenSize }, merged.shape);
        using Tensor pooled = model.EncodeVideos(frames);
        Assert.True((merged - pooled).abs().max().item<float>() > 1e-3f);                    // a different compression, not the pooling

        long[] ids = [.. Enumerable.Repeat(5L, 3), .. Enumerable.Repeat((long)model.Config.VideoTokenIndex, 9), 7L];
        using Tensor badIds = tensor(ids, [1, ids.Length]);
        var e = Assert.Throws<TokenFeatureMismatchException>(() =>
            model.BuildInputsEmbeds(new LlavaOnevisionInput { InputIds = badIds, PixelValuesVideos = frames, Options = options }).Dispose());
        Assert.Contains("HiCo", e.Message, StringComparison.Ordinal);
    }
}

[Trait("Category", "HiCo")]
public sealed class When_a_long_video_is_encoded_in_chunks
{
    [Fact]
    public async Task The_result_does_not_depend_on_the_vision_batch_size()
    {
        using LlavaOnevisionForConditionalGeneration model = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(Fixtures.Dir("llava_onevision"));
        using Tensor frames = cat([Fixtures.Reference("llava_onevision", "video_pixel_values"), Fixtures.Reference("llava_onevision", "video_pixel_values").flip(1)], 1);  // 8 frames
        using Tensor pooledWhole = model.EncodeVideos(frames, new VlmOptions { VisionBatchSize = 64 });
        using Tensor pooledChunked = model.EncodeVideos(frames, new VlmOptions { VisionBatchSize = 3 });
        TensorAssert.Close(pooledWhole, pooledChunked, 1e-5);

        using Tensor mergedWhole = model.EncodeVideos(frames, new VlmOptions { TokensPerFrame = 4, VisionBatchSize = 64 });
        using Tensor mergedChunked = model.EncodeVideos(frames, new VlmOptions { TokensPerFrame = 4, VisionBatchSize = 5 });   // rounds to whole clips
        TensorAssert.Close(mergedWhole, mergedChunked, 1e-5);
        Assert.Equal(8 * 4 + 1, mergedWhole.shape[0]);
    }
}
