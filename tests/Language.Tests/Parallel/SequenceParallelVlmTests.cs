using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Parallel;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.SequenceParallel;

public sealed class When_a_video_prompt_is_prefilled_sequence_parallel
{
    private static readonly Lazy<LlavaOnevisionForConditionalGeneration> s_model =
        new(() => LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(Fixtures.Dir("llava_onevision")).GetAwaiter().GetResult());

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void The_last_logits_equal_the_single_device_forward(int ranks, bool copyPerRank)
    {
        LlavaOnevisionForConditionalGeneration model = s_model.Value;
        var options = new VlmOptions { TokensPerFrame = 4 };
        using var generator = new Generator(31, CPU);
        using Tensor frames = randn([1, 8, 3, 32, 32], generator: generator);
        long slots = model.VideoTokenCount(8, options);                              // 8·4 + 1 = 33
        long[] prompt = [.. Enumerable.Range(1, 5).Select(i => (long)i), .. Enumerable.Repeat((long)model.Config.VideoTokenIndex, (int)slots),
            .. Enumerable.Range(10, 6).Select(i => (long)i)];
        using Tensor ids = tensor(prompt, [1, prompt.Length]);

        using Qwen2CausalLMOutput dense = model.forward(new LlavaOnevisionInput
        {
            InputIds = ids, PixelValuesVideos = frames, Options = options, LastPositionLogitsOnly = true,
        });
        using var parallel = new SequenceParallelVlm(model, Enumerable.Repeat(CPU, ranks).ToArray(), copyPerRank);
        using SequenceParallelPrefill result = parallel.Prefill(ids, frames, options);
        using Tensor expected = dense.Logits.select(1, 0);
        TensorAssert.Close(expected, result.LastLogits, 1e-5);
    }

    [Fact]
    public void Placeholders_that_do_not_match_the_frames_are_refused()
    {
        LlavaOnevisionForConditionalGeneration model = s_model.Value;
        using var parallel = new SequenceParallelVlm(model, [CPU, CPU]);
        using Tensor frames = zeros([1L, 4, 3, 32, 32]);
        using Tensor ids = full([1L, 20], (long)model.Config.VideoTokenIndex);
        Assert.IsAssignableFrom<VideoLongException>(Assert.ThrowsAny<Exception>(() => parallel.Prefill(ids, frames, new VlmOptions { TokensPerFrame = 4 })));
    }
}
