using TorchSharp;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Tests.Artifacts;
using VideoLong.Pipeline.Training;
using VideoLong.Vision;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Tests.Training;

public sealed class When_VideoLong_Tiny_has_the_ResNet18_tower : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>models/videolong-tiny/ablations (found from the working folder upwards).</summary>
    internal static string Ablations
    {
        get
        {
            for (DirectoryInfo? d = new(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "models", "videolong-tiny", "ablations");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new InvalidOperationException("models/videolong-tiny/ablations not found above the working folder.");
        }
    }

    // The ImageNet tower as `videolong resnet18-export` writes it from the NuGet package's ONNX file (restored by
    // tests/Vision.Tests' PackageDownload), once per test process.
    private static readonly Lazy<string> Exported = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), $"videolong-resnet18-layer3-{Environment.ProcessId}.safetensors");
        ResNetTowerWeights.ExportAsync(ResNet18OnnxImport.DefaultOnnxPath(), path, 3, VideoLong.Pipeline.Artifacts.TensorDtype.F32, CancellationToken.None).GetAwaiter().GetResult();
        return path;
    });

    private static string TowerWeights => Exported.Value;

    private static TinyTrainConfig Config => new()
    {
        Seed = 5, Device = "cpu", Steps = 10, Batch = 6, Frames = 4, NeedleFrames = 8, NeedleBatch = 2, NeedleEvery = 0,
        WarmupSteps = 2, LearningRate = 2e-3, CheckpointEvery = 100, LogEvery = 100, MaxMerges = 200, FitStepsToTime = false,
        Model = new TinyModelShape { VisionTower = TinyModelShape.ResNet18, ImageSize = 48, TextHidden = 32, TextLayers = 1, TextHeads = 2, TextKvHeads = 1, TextIntermediate = 64 },
        InitVisionFrom = TowerWeights,
    };

    [Fact]
    public async Task It_starts_from_the_ImageNet_weights_learns_and_the_bf16_export_loads_through_the_normal_path()
    {
        using var trainer = new TinyTrainer(Config, _folder.Path);
        Assert.IsType<ResNet18VisionConfig>(trainer.ModelConfig.VisionConfig);
        Assert.Equal(3 * 3 * 4 + 1, trainer.VideoTokens(4));                          // 48² frames: 3×3 tokens each, not pooled, + newline
        long towerParameters = trainer.Model.VisionTower.parameters().Sum(p => p.numel());
        Assert.Equal(2_782_784, towerParameters);

        // The tower holds the file's ImageNet weights (not the random initialisation).
        using (SafetensorsCheckpoint file = SafetensorsCheckpoint.Open(TowerWeights))
        using (Tensor conv1 = file.Load("conv1.weight"))
        {
            Assert.True(conv1.allclose(trainer.Model.VisionTower.state_dict()["conv1.weight"], 0, 0));
        }

        TinyBatch first = trainer.MakeBatch(0);
        double before = trainer.RunStep(first, train: false).Loss;
        await trainer.TrainAsync(null, CancellationToken.None);
        double after = trainer.RunStep(first, train: false).Loss;
        Assert.Equal(10, trainer.Step);
        Assert.True(after < before - 0.3, $"loss on the first batch went from {before} to {after}");

        await trainer.ExportAsync(CancellationToken.None);
        Assert.Equal(ResNet18VisionConfig.Normalization.Mean, VisionInputs.NormalizationFor(trainer.ModelDirectory).Mean);   // ask / NIAH read it
        using LlavaOnevisionForConditionalGeneration loaded = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(trainer.ModelDirectory);
        ResNet18VisionConfig tower = Assert.IsType<ResNet18VisionConfig>(loaded.Config.VisionConfig);
        Assert.Equal((48, 3, 256), (tower.ImageSize, tower.NumStages, tower.HiddenSize));
        Dictionary<string, Tensor> trained = trainer.Model.state_dict(), reloaded = loaded.state_dict();
        foreach (string name in new[] { "vision_tower.conv1.weight", "vision_tower.layer3.1.bn2.running_var", "vision_tower.layer2.0.downsample.0.weight" })
        {
            Assert.True(reloaded[name].allclose(trained[name], 1e-2, 1e-2), name);     // bf16 round trip
        }

        // Same answers from the trained model and its reloaded bf16 copy on held-out samples (through the evaluator's path).
        trainer.Model.eval();
        SyntheticSample[] samples = Enumerable.Range(0, 3).Select(i => new SyntheticVideos(48).Generate(DataSplit.Test, "color", i, 4)).ToArray();
        var prompts = new TinyPrompts(Qwen2Tokenizer.FromPretrained(trainer.ModelDirectory));
        IReadOnlyList<string> answers = new TinyEvaluator(loaded, prompts).Answer(samples);
        Assert.Equal(3, answers.Count);
        Assert.Equal(new TinyEvaluator(trainer.Model, prompts).Answer(samples), answers);
    }

    [Fact]
    public void The_exported_tower_weights_are_the_package_weights_converted()
    {
        IReadOnlyDictionary<string, OnnxTensor> weights = ResNet18OnnxImport.StateDict(OnnxModel.Read(ResNet18OnnxImport.DefaultOnnxPath()), 3);
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(TowerWeights);
        Assert.Equal(weights.Count + 15, checkpoint.Names.Count);                      // + one num_batches_tracked per BatchNorm
        foreach ((string name, OnnxTensor expected) in weights)
        {
            using Tensor stored = checkpoint.Load(name, ScalarType.Float32);
            Assert.Equal(expected.Dims, stored.shape);
            Assert.Equal(expected.Data, stored.contiguous().data<float>().ToArray());
        }
    }

    [Fact]
    public void The_ablation_config_loads_and_trains_a_step_on_the_CPU_with_its_full_size_model()
    {
        TinyTrainConfig shipped = TinyTrainConfig.Load(Path.Combine(Ablations, "resnet18-16tok.json"));
        Assert.Equal((TinyModelShape.ResNet18, 380.0, 96), (shipped.Model.VisionTower, shipped.TimeLimitSeconds, shipped.Batch));
        Assert.Null(shipped.InitFrom);                                                  // projector and decoder from scratch
        TinyTrainConfig small = shipped with
        {
            Device = "cpu", Steps = 2, Batch = 2, Frames = 4, NeedleBatch = 1, NeedleFrames = 8, FitStepsToTime = false, LogEvery = 1,
            InitVisionFrom = TowerWeights,
        };
        var log = new List<string>();
        using var trainer = new TinyTrainer(small, _folder.Path, log.Add);
        Assert.Equal(16 * 4 + 1, trainer.VideoTokens(4));                              // 16 tokens per 64² frame
        Assert.InRange(TinyTrainer.ParameterCount(trainer.Model), 5_000_000, 30_000_000);
        TinyStepResult step = trainer.RunStep(trainer.MakeBatch(0));
        Assert.True(double.IsFinite(step.Loss) && step.Loss > 0);
        Assert.Contains(log, l => l.StartsWith("vision tower initialised from", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bad_tower_setting_is_refused_with_what_is_accepted()
    {
        Assert.Contains("'vit'", Assert.Throws<VideoLongException>(() => (Config with { Model = Config.Model with { VisionTower = "vit" } }).Validate("t.json")).Message, StringComparison.Ordinal);
        Assert.Contains("multiple of 16", Assert.Throws<VideoLongException>(() => (Config with { Model = Config.Model with { ImageSize = 40 } }).Validate("t.json")).Message, StringComparison.Ordinal);
        Assert.Contains("needs model.vision_tower", Assert.Throws<VideoLongException>(() => (Config with { Model = Config.Model with { VisionTower = TinyModelShape.Siglip } }).Validate("t.json")).Message, StringComparison.Ordinal);
        VideoLongException missing = Assert.Throws<VideoLongException>(() => new TinyTrainer(Config with { InitVisionFrom = "/nonexistent/ResNet18.onnx" }, _folder.Path));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
    }
}
