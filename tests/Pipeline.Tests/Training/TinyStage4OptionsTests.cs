using System.Text.Json.Nodes;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Cli;
using VideoLong.Pipeline.Tests.Artifacts;
using VideoLong.Pipeline.Training;

namespace VideoLong.Pipeline.Tests.Training;

/// <summary>task_weights, v2pe_strides and model.tokens_per_frame of the training config, and the tiny-eval options.</summary>
public sealed class When_the_tiny_training_config_has_stage4_options : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Write(string json)
    {
        string path = Path.Combine(_folder.Path, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Theory]
    [InlineData("""{ "task_weights": { "needle": 2 } }""", "not a short task")]
    [InlineData("""{ "task_weights": { "reading": 2 } }""", "'reading'")]
    [InlineData("""{ "task_weights": { "word": -1 } }""", "finite number ≥ 0")]
    [InlineData("""{ "task_weights": { "count": 0, "color": 0, "shape": 0, "number": 0, "word": 0, "order": 0, "when": 0, "motion": 0, "caption": 0 } }""", "at least one must be > 0")]
    [InlineData("""{ "v2pe_strides": [] }""", "v2pe_strides")]
    [InlineData("""{ "v2pe_strides": [64, 512] }""", "[1, 256]")]
    [InlineData("""{ "model": { "tokens_per_frame": 32 } }""", "use 16 (2×2 pooling) or 64 (no pooling)")]
    [InlineData("""{ "model": { "tokens_pre_frame": 16 } }""", "tokens_pre_frame")]
    [InlineData("""{ "backgrounds": "no/such/folder" }""", "'no/such/folder' does not exist")]
    [InlineData("""{ "background_fraction": 1.5 }""", "background_fraction must lie in [0, 1]")]
    public void An_invalid_value_is_refused_with_a_message_naming_it(string json, string expected)
    {
        var e = Assert.ThrowsAny<VideoLongException>(() => TinyTrainConfig.Load(Write(json)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_keep_the_old_behaviour_and_weights_normalise_with_unnamed_tasks_at_1()
    {
        TinyTrainConfig plain = TinyTrainConfig.Load(Write("{}"));
        Assert.Null(plain.TaskShares());
        Assert.Null(plain.V2peStrides);
        Assert.Equal(2, plain.Model.SpatialPoolStride);
        Assert.Equal(2, plain.Model.ConfigJson(512, 1, 2)["spatial_pool_stride"]!.GetValue<int>());

        TinyTrainConfig weighted = TinyTrainConfig.Load(Write("""{ "task_weights": { "number": 3, "color": 0 }, "v2pe_strides": [256, 16, 16], "model": { "tokens_per_frame": 64 } }"""));
        var shares = weighted.TaskShares()!.ToDictionary(x => x.Task, x => x.Share);
        Assert.Equal(9, shares.Count);
        Assert.Equal(3.0 / 10, shares["number"], 12);                              // 3 + 0 + 7 × 1 = 10
        Assert.Equal(0, shares["color"]);
        Assert.Equal(1.0 / 10, shares["word"], 12);
        Assert.Equal(1, weighted.Model.SpatialPoolStride);
    }

    [Theory]
    [InlineData("models/videolong-tiny/history/train-stage4.json")]
    [InlineData("models/videolong-tiny/ablations/scratch-16tok.json")]
    [InlineData("models/videolong-tiny/ablations/scratch-64tok.json")]
    public void The_committed_stage4_configs_load(string relative)
    {
        string root = Path.GetDirectoryName(Path.GetDirectoryName(DefaultModel.Resolve()))!;
        TinyTrainConfig config = TinyTrainConfig.Load(Path.Combine(root, relative));
        Assert.NotNull(config.TaskShares());
        Assert.Equal(relative.Contains("64tok", StringComparison.Ordinal) ? 64 : 16, config.Model.TokensPerFrame);
    }

    [Fact]
    public void Tiny_eval_options_accept_10x_haystacks_and_refuse_what_they_cannot_use()
    {
        Assert.Equal([64, 640], TrainCommand.ParseNeedleFrames("64, 640"));
        Assert.Contains("≥ 4", Assert.Throws<VideoLongException>(() => TrainCommand.ParseNeedleFrames("64,abc")).Message, StringComparison.Ordinal);
        Assert.Equal(["needle", "word"], TrainCommand.ParseTasks("needle,word")!.Order());
        Assert.Contains("accepted tasks", Assert.Throws<VideoLongException>(() => TrainCommand.ParseTasks("needle,reading")).Message, StringComparison.Ordinal);
        Assert.Null(TrainCommand.ParseTasks(null));
        Assert.Null(TrainCommand.EvalOptions(null, null));
        Assert.Equal(16, TrainCommand.EvalOptions(null, 16)!.V2peStride);
        Assert.Contains("--v2pe-stride", Assert.Throws<VideoLongException>(() => TrainCommand.EvalOptions(null, 300)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_json_with_an_invalid_spatial_pool_stride_is_refused()
    {
        JsonObject json = new TinyModelShape().ConfigJson(512, 510, 511);
        json["spatial_pool_stride"] = 0;
        var e = Assert.Throws<VideoLongException>(() => LlavaOnevisionConfig.Parse(json.ToJsonString()));
        Assert.Contains("spatial_pool_stride", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>A few CPU training steps with V2PE strides and 64 tokens per frame (no pooling), then the exported model in the inference path.</summary>
public sealed class When_VideoLong_Tiny_trains_with_V2PE_and_64_tokens_per_frame : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static TinyTrainConfig Config(int? tokensPerFrame, int[]? strides, Dictionary<string, double>? weights = null) => new()
    {
        Seed = 3, Device = "cpu", Steps = 3, Batch = 3, Frames = 4, NeedleFrames = 8, NeedleBatch = 2, NeedleEvery = 2,
        WarmupSteps = 1, LearningRate = 2e-3, CheckpointEvery = 100, LogEvery = 100, MaxMerges = 100, FitStepsToTime = false,
        TaskWeights = weights, V2peStrides = strides,
        Model = new TinyModelShape
        {
            ImageSize = 64, PatchSize = 8, VisionHidden = 16, VisionLayers = 1, VisionHeads = 2, TextHidden = 32, TextLayers = 1, TextHeads = 2,
            TextKvHeads = 1, TextIntermediate = 64, TokensPerFrame = tokensPerFrame,
        },
    };

    [Fact]
    public async Task Positions_reach_the_forward_and_the_exported_model_keeps_64_tokens_per_frame()
    {
        using var trainer = new TinyTrainer(Config(64, [16]), _folder.Path);
        Assert.Equal(64 * 4 + 1, trainer.VideoTokens(4));
        TinyBatch batch = trainer.MakeBatch(0);
        Assert.NotNull(batch.Positions);
        // δ = 16/256: the 257 visual tokens of a row span 257/16 positions, so the last position is far below L − 1.
        Assert.InRange(batch.Positions![batch.L - 1], 0, batch.L - 257 + 20);
        double withV2pe = trainer.RunStep(batch, train: false).Loss;
        double standard = trainer.RunStep(batch with { Positions = null }, train: false).Loss;
        Assert.NotEqual(standard, withV2pe, 6);

        await trainer.TrainAsync(null, CancellationToken.None);
        Assert.Equal(3, trainer.Step);
        Assert.All(trainer.History, h => Assert.True(double.IsFinite(h.Loss)));
        await trainer.ExportAsync(CancellationToken.None);

        using LlavaOnevisionForConditionalGeneration loaded = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(trainer.ModelDirectory);
        Assert.Equal(1, loaded.Config.SpatialPoolStride);
        Assert.Equal(64L * 40 + 1, loaded.VideoTokenCount(40));
        var evaluator = new TinyEvaluator(loaded, new TinyPrompts(Qwen2Tokenizer.FromPretrained(trainer.ModelDirectory)));
        var videos = new SyntheticVideos(64);
        SyntheticSample[] samples = [videos.Generate(DataSplit.Test, "needle", 0, 40), videos.Generate(DataSplit.Test, "color", 0, 8)];
        // The same greedy answers one by one and left-padded in a batch, with V2PE positions (10× the training haystack).
        var options = new VlmOptions { V2peStride = 16 };
        IReadOnlyList<string> batched = evaluator.Answer(samples, options, maxNewTokens: 4);
        Assert.Equal(samples.Select(s => evaluator.Answer([s], options, maxNewTokens: 4)[0]), batched);
    }

    [Fact]
    public void Task_weights_draw_the_short_tasks_in_proportion_and_never_a_weight_0_task()
    {
        var weights = new Dictionary<string, double> { ["number"] = 4, ["color"] = 0 };
        using var trainer = new TinyTrainer(Config(null, null, weights), _folder.Path);
        var counts = Enumerable.Range(0, 6000).Select(i => trainer.ShortTaskOf(i)).GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());
        Assert.False(counts.ContainsKey("color"));
        Assert.InRange(counts["number"], 6000 * 4 / 11 - 200, 6000 * 4 / 11 + 200);   // 4 of 4 + 7 × 1
        Assert.InRange(counts["word"], 6000 / 11 - 120, 6000 / 11 + 120);
        Assert.Equal(trainer.ShortTaskOf(1234), trainer.ShortTaskOf(1234));
        Assert.Null(trainer.MakeBatch(0).Positions);                                   // no v2pe_strides: standard positions

        using var rotation = new TinyTrainer(Config(null, null), Path.Combine(_folder.Path, "plain"));
        Assert.Equal(SyntheticVideos.Tasks.Where(t => t != "needle"), Enumerable.Range(0, 9).Select(i => rotation.ShortTaskOf(i)));
        Assert.Equal(16 * 4 + 1, rotation.VideoTokens(4));
    }
}

/// <summary>Real-footage frames as backgrounds and haystacks of the synthetic samples.</summary>
public sealed class When_synthetic_videos_play_on_footage : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Frames_of_a_folder_are_read_in_name_order_at_the_frame_size()
    {
        for (int i = 0; i < 3; i++)
        {
            byte[] rgb = Enumerable.Repeat((byte)(60 * (i + 1)), 80 * 60 * 3).ToArray();
            using NetVips.Image image = NetVips.Image.NewFromMemory(rgb, 80, 60, 3, NetVips.Enums.BandFormat.Uchar);
            image.WriteToFile(Path.Combine(_folder.Path, $"{i:000000}_{i}.000s.png"));
        }

        File.WriteAllText(Path.Combine(_folder.Path, "manifest.json"), "{}");
        IReadOnlyList<byte[]> frames = BackgroundFrames.Load(_folder.Path, 64);
        Assert.Equal(3, frames.Count);
        Assert.All(frames, f => Assert.Equal(64 * 64 * 3, f.Length));
        Assert.Equal([60, 120, 180], frames.Select(f => (int)f[64 * 32 * 3 + 96]));
        Assert.Contains("no .png", Assert.Throws<VideoLongException>(() => BackgroundFrames.Load(Directory.CreateDirectory(Path.Combine(_folder.Path, "empty")).FullName, 64)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_footage_sample_keeps_its_question_and_answer_and_shows_the_dimmed_footage_where_nothing_is_drawn()
    {
        byte[][] footage = Enumerable.Range(0, 5).Select(i => Enumerable.Repeat((byte)(100 + (20 * i)), 64 * 64 * 3).ToArray()).ToArray();
        var plain = new SyntheticVideos(64);
        var all = new SyntheticVideos(64, footage, 1.0);
        var none = new SyntheticVideos(64, footage, 0.0);
        foreach (string task in SyntheticVideos.Tasks)
        {
            SyntheticSample p = plain.Generate(DataSplit.Train, task, 7, 8), f = all.Generate(DataSplit.Train, task, 7, 8), n = none.Generate(DataSplit.Train, task, 7, 8);
            Assert.Equal((p.Question, p.Answer), (f.Question, f.Answer));
            Assert.Equal(p.Frames, n.Frames);
            // Most pixels of a footage frame are the footage's grey, dimmed; consecutive frames come from consecutive footage frames.
            int[] greys = footage.Select(x => (int)(byte)(x[0] * SyntheticVideos.FootageBrightness)).ToArray();
            int g0 = f.Frames[0].GroupBy(b => b).MaxBy(g => g.Count())!.Key, g1 = f.Frames[1].GroupBy(b => b).MaxBy(g => g.Count())!.Key;
            Assert.Contains(g0, greys);
            Assert.Equal(greys[(Array.IndexOf(greys, g0) + 1) % greys.Length], g1);
        }

        // About half the samples play on footage at fraction 0.5, chosen by seed.
        var half = new SyntheticVideos(64, footage, 0.5);
        int onFootage = Enumerable.Range(0, 2000).Count(i => half.UsesFootage(SyntheticVideos.SeedOf(DataSplit.Train, "count", i)));
        Assert.InRange(onFootage, 900, 1100);
    }
}
