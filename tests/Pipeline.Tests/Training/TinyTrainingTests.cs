using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Tests.Artifacts;
using VideoLong.Pipeline.Training;

namespace VideoLong.Pipeline.Tests.Training;

public sealed class When_synthetic_videos_are_generated
{
    [Fact]
    public void The_same_split_task_and_index_give_the_same_sample_and_splits_differ()
    {
        var videos = new SyntheticVideos(64);
        foreach (string task in SyntheticVideos.Tasks)
        {
            SyntheticSample a = videos.Generate(DataSplit.Train, task, 5, 8), b = videos.Generate(DataSplit.Train, task, 5, 8);
            Assert.Equal(a.Question, b.Question);
            Assert.Equal(a.Answer, b.Answer);
            Assert.Equal(8, a.Frames.Length);
            Assert.All(a.Frames.Zip(b.Frames), p => Assert.Equal(p.First, p.Second));
            Assert.Equal(64 * 64 * 3, a.Frames[0].Length);
            SyntheticSample test = videos.Generate(DataSplit.Test, task, 5, 8);
            Assert.NotEqual(a.Frames[0], test.Frames[0]);
        }

        // Seeds of the splits never overlap.
        var train = Enumerable.Range(0, 1000).Select(i => SyntheticVideos.SeedOf(DataSplit.Train, "count", i * 9_999)).ToHashSet();
        Assert.DoesNotContain(Enumerable.Range(0, 1000).Select(i => SyntheticVideos.SeedOf(DataSplit.Test, "count", i * 9_999)), train.Contains);
    }

    [Fact]
    public void A_number_task_draws_its_number()
    {
        SyntheticSample s = new SyntheticVideos(64).Generate(DataSplit.Validation, "number", 3, 4);
        Assert.Matches("^[0-9]{1,2}$", s.Answer);
        // The digits are drawn in one of the bright palette colours over a dark background: some pixels are bright.
        Assert.Contains(s.Frames[0], b => b > 200);
    }
}

public sealed class When_the_tiny_tokenizer_is_built : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Qwen2Tokenizer_loads_it_and_round_trips_text_with_single_special_tokens()
    {
        string[] corpus = ["How many shapes are in the video?", "What color is the circle? red", "What color is the square? blue"];
        (Dictionary<string, int> vocab, List<(string Left, string Right)> merges) = TinyTokenizerBuilder.Learn(corpus, 100);
        (int imageId, int videoId, int size) = TinyTokenizerBuilder.Write(_folder.Path, vocab, merges);
        Assert.Equal(3 + 256 + merges.Count + 2, size);
        Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(_folder.Path);
        Assert.Equal(videoId, tokenizer.TokenToId("<video>"));
        Assert.Equal(imageId, tokenizer.TokenToId("<image>"));
        Assert.Equal(2, tokenizer.TokenToId("<|im_end|>"));
        const string Text = "<|im_start|>user\n<video>\nWhat color is the circle? Ünïcode 42<|im_end|>";
        int[] ids = tokenizer.Encode(Text);
        Assert.Equal(Text, tokenizer.Decode(ids));
        Assert.Single(tokenizer.Encode(" color"));                                   // a learned merge covers a frequent word
    }
}

public sealed class When_VideoLong_Tiny_is_trained_on_the_CPU : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static TinyTrainConfig Config => new()
    {
        Seed = 11, Device = "cpu", Steps = 12, Batch = 6, Frames = 4, NeedleFrames = 8, NeedleBatch = 2, NeedleEvery = 0,
        WarmupSteps = 2, LearningRate = 2e-3, CheckpointEvery = 100, LogEvery = 100, MaxMerges = 200, FitStepsToTime = false,
        Model = new TinyModelShape { ImageSize = 48, PatchSize = 8, VisionHidden = 32, VisionLayers = 1, VisionHeads = 2, TextHidden = 32, TextLayers = 1, TextHeads = 2, TextKvHeads = 1, TextIntermediate = 64 },
    };

    [Fact]
    public async Task The_loss_goes_down_and_the_exported_model_loads_with_the_checkpoint_loader()
    {
        using var trainer = new TinyTrainer(Config, _folder.Path);
        TinyBatch first = trainer.MakeBatch(0);
        double before = trainer.RunStep(first, train: false).Loss;
        await trainer.TrainAsync(null, CancellationToken.None);
        double after = trainer.RunStep(first, train: false).Loss;
        Assert.Equal(12, trainer.Step);
        Assert.True(after < before - 0.3, $"loss on the first batch went from {before} to {after}");

        await trainer.ExportAsync(CancellationToken.None);
        using var loaded = await Language.Models.LlavaOnevision.LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(trainer.ModelDirectory);
        var evaluator = new TinyEvaluator(loaded, new TinyPrompts(Qwen2Tokenizer.FromPretrained(trainer.ModelDirectory)));
        IReadOnlyList<string> answers = evaluator.Answer([new SyntheticVideos(48).Generate(DataSplit.Test, "color", 0, 4)]);
        Assert.Single(answers);
        Assert.True(File.Exists(Path.Combine(trainer.ModelDirectory, "training-curve.png")));
    }

    [Fact]
    public async Task A_resumed_run_takes_the_same_next_step_as_an_uninterrupted_one()
    {
        double uninterrupted, uninterruptedAfter;
        using (var trainer = new TinyTrainer(Config, _folder.Path))
        {
            await trainer.TrainAsync(3, CancellationToken.None);
            trainer.SaveCheckpoint();
            uninterrupted = trainer.RunStep(trainer.MakeBatch(3)).Loss;
            uninterruptedAfter = trainer.RunStep(trainer.MakeBatch(4)).Loss;   // depends on the optimizer state too
        }

        using var resumed = new TinyTrainer(Config, _folder.Path);
        double fresh = resumed.RunStep(resumed.MakeBatch(3), train: false).Loss;
        resumed.LoadCheckpoint();
        Assert.Equal(3, resumed.Step);
        double next = resumed.RunStep(resumed.MakeBatch(3)).Loss;
        Assert.Equal(uninterrupted, next, 5);
        Assert.Equal(uninterruptedAfter, resumed.RunStep(resumed.MakeBatch(4)).Loss, 5);
        Assert.NotEqual(fresh, next, 3);                                            // the checkpoint, not a fresh init, gave that loss
    }
}
