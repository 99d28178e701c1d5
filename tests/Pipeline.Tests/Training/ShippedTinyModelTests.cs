using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Training;

namespace VideoLong.Pipeline.Tests.Training;

/// <summary>The shipped VideoLong-Tiny (models/videolong-tiny) loads on the CPU and answers held-out questions (test split, never trained on).</summary>
public sealed class When_the_shipped_VideoLong_Tiny_answers
{
    [Fact]
    public async Task Fixed_held_out_colour_questions_get_the_right_answer_on_the_CPU()
    {
        string dir = DefaultModel.Resolve();
        Assert.EndsWith(Path.Combine("models", "videolong-tiny"), dir, StringComparison.Ordinal);
        long weights = new DirectoryInfo(dir).GetFiles("*.safetensors").Sum(f => f.Length);
        Assert.InRange(weights, 1, 15L << 20);

        using LlavaOnevisionForConditionalGeneration model = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(dir);
        Assert.InRange(TinyTrainer.ParameterCount(model), 1_000_000, 30_000_000);
        var evaluator = new TinyEvaluator(model, new TinyPrompts(Qwen2Tokenizer.FromPretrained(dir)));
        var videos = new SyntheticVideos(model.Config.VisionConfig.ImageSize);
        SyntheticSample[] samples = Enumerable.Range(0, 4).Select(i => videos.Generate(DataSplit.Test, "color", i, 16)).ToArray();
        IReadOnlyList<string> answers = evaluator.Answer(samples);
        Assert.Equal(samples.Select(s => s.Answer), answers);
        Assert.Equal(["white", "green", "blue", "yellow"], answers);   // the fixed questions' answers, so a changed generator is noticed too
    }

    [Fact]
    public async Task Fixed_held_out_reading_and_needle_questions_get_the_right_answer_on_the_CPU()
    {
        string dir = DefaultModel.Resolve();
        using LlavaOnevisionForConditionalGeneration model = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(dir);
        var evaluator = new TinyEvaluator(model, new TinyPrompts(Qwen2Tokenizer.FromPretrained(dir)));
        var videos = new SyntheticVideos(model.Config.VisionConfig.ImageSize);
        SyntheticSample[] reading = [.. Enumerable.Range(0, 3).SelectMany(i => new[] { videos.Generate(DataSplit.Test, "number", i, 16), videos.Generate(DataSplit.Test, "word", i, 16) })];
        Assert.Equal(reading.Select(s => s.Answer), evaluator.Answer(reading));
        SyntheticSample[] needles = [.. Enumerable.Range(0, 2).Select(i => videos.Generate(DataSplit.Test, "needle", i, 64))];
        Assert.Equal(needles.Select(s => s.Answer), evaluator.Answer(needles));
    }
}
