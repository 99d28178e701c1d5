using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using TorchSharp;
using TorchSharp.Modules;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Positions;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Vision.Models;
using VideoLong.Vision.Models.ResNet;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Training;

/// <summary>
/// One training batch on the CPU: right-padded ids and labels [B, L], frames as uint8 [B, F, S, S, 3], and with V2PE
/// training the float positions [B, L] (null: standard positions 0 … L − 1).
/// </summary>
public sealed record TinyBatch(int Step, int B, int L, long[] Ids, long[] Labels, int F, int S, byte[] Pixels, string Kind, float[]? Positions = null);

/// <summary>What a training step reports.</summary>
public sealed record TinyStepResult(int Step, double Loss, double TokenAccuracy, double LearningRate, double GradNorm, string Kind);

/// <summary>
/// Trains VideoLong-Tiny with the project's own model classes (SigLIP → projector → Qwen2 decoder) on
/// <see cref="SyntheticVideos"/>: AdamW, linear warm-up then cosine decay, gradient clipping, loss on answer tokens only,
/// batches generated on background threads while the device computes, checkpoints (model, optimizer, step) and resume.
/// Everything follows from the config's seed: the data of step s is the same in every run, so a resumed run continues
/// with the very batch the interrupted one would have taken.
/// </summary>
public sealed class TinyTrainer : IDisposable
{
    public const string CheckpointModel = "checkpoint.model";
    public const string CheckpointOptimizer = "checkpoint.optim";
    public const string CheckpointState = "checkpoint.json";

    private static readonly string[] ShortTasks = SyntheticVideos.Tasks.Where(t => t != "needle").ToArray();

    private readonly TinyTrainConfig _config;
    private readonly SyntheticVideos _videos;
    private readonly Device _device;
    private readonly AdamW _optimizer;
    private readonly List<Parameter> _parameters;
    private readonly (string Task, double Cumulative)[]? _taskCumulative;
    private readonly Vision.PixelNormalization? _normalization;

    public TinyTrainer(TinyTrainConfig config, string outDirectory, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        OutDirectory = Path.GetFullPath(outDirectory);
        Log = log ?? (_ => { });
        Directory.CreateDirectory(OutDirectory);
        ModelDirectory = Path.Combine(OutDirectory, "model");
        Directory.CreateDirectory(ModelDirectory);
        (_device, _) = new ModelLoadOptions { Device = config.Device, DType = ScalarType.Float32 }.Resolve();
        _videos = config.Backgrounds is { } footage
            ? new SyntheticVideos(config.Model.ImageSize, BackgroundFrames.Load(footage, config.Model.ImageSize), config.BackgroundFraction)
            : new SyntheticVideos(config.Model.ImageSize);
        if (_videos.Backgrounds is { } loaded)
        {
            Log(string.Create(CultureInfo.InvariantCulture, $"{loaded.Count} footage frames from {config.Backgrounds} under {config.BackgroundFraction:P0} of the samples"));
        }

        // Tokenizer: byte-level BPE learned from the training split's texts (and the fixed prompt wording).
        string[] corpus = Enumerable.Range(0, 200).SelectMany(i => SyntheticVideos.Tasks.Select(t =>
        {
            SyntheticSample s = _videos.Generate(DataSplit.Train, t, 9_000_000 + i, t == "needle" ? config.NeedleFrames : config.Frames);
            return TinyPrompts.PromptText(s) + s.Answer;
        })).ToArray();
        (Dictionary<string, int> vocab, List<(string, string)> merges) = TinyTokenizerBuilder.Learn(corpus, config.MaxMerges);
        (int imageId, int videoId, int size) = TinyTokenizerBuilder.Write(ModelDirectory, vocab, merges);
        int vocabSize = (size + 63) / 64 * 64;
        JsonObject modelConfig = config.Model.ConfigJson(vocabSize, imageId, videoId);
        File.WriteAllText(Path.Combine(ModelDirectory, "config.json"), modelConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Prompts = new TinyPrompts(Qwen2Tokenizer.FromPretrained(ModelDirectory));
        ModelConfig = LlavaOnevisionConfig.Load(ModelDirectory);

        if (_device.type == DeviceType.CUDA)
        {
            torch.backends.cuda.matmul.allow_tf32 = true;                             // TF32 matrix products on the GPU (fp32 master weights)
        }

        torch.manual_seed(config.Seed);
        Model = new LlavaOnevisionForConditionalGeneration(ModelConfig, _device, ScalarType.Float32);
        Initialise(Model);
        _normalization = NormalizationFor(ModelConfig);
        if (_normalization is { } normalization)
        {
            // The inference paths (ask, chat, NIAH) read the tower's normalisation from the model folder.
            File.WriteAllText(Path.Combine(ModelDirectory, "preprocessor_config.json"), new JsonObject
            {
                ["image_mean"] = new JsonArray(normalization.Mean.Select(x => (JsonNode)x).ToArray()),
                ["image_std"] = new JsonArray(normalization.Std.Select(x => (JsonNode)x).ToArray()),
                ["comment"] = "ResNet18 tower: x − ImageNet mean (ML.NET ResNetPreprocess.onnx channel means) in 0…255, RGB",
            }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        if (config.InitVisionFrom is { } visionInit)
        {
            ResNetTowerWeights.Load((ResNet18VisionModel)Model.VisionTower, visionInit);
            Log($"vision tower initialised from {visionInit}");
        }
        if (config.InitFrom is { } init)
        {
            using var checkpoint = Vision.Weights.SafetensorsCheckpoint.Open(init);
            Vision.Weights.WeightLoader.LoadStrict(Model, checkpoint, "VideoLong-Tiny (init_from)", LlavaOnevisionForConditionalGeneration.WeightMapFor(ModelConfig), null, CancellationToken.None);
            Log($"initialised from {init}");
        }

        Model.train();
        _parameters = Model.parameters().Where(p => p.requires_grad).ToList();
        _optimizer = optim.AdamW(_parameters, config.LearningRate, 0.9, 0.95, 1e-8, config.WeightDecay);
        TotalSteps = config.Steps;
        if (config.TaskShares() is { } shares)
        {
            double sum = 0;
            _taskCumulative = shares.Select(x => (x.Task, sum += x.Share)).ToArray();
            Log("task shares: " + string.Join(", ", shares.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Task} {x.Share:P0}"))));
        }

        Log($"VideoLong-Tiny: {ParameterCount(Model):N0} parameters, vocabulary {size} ({merges.Count} merges) padded to {vocabSize}, device {_device}, "
            + $"{VideoTokens(1) - 1} tokens per frame, V2PE strides {(config.V2peStrides is { } v ? string.Join("/", v) : "none (standard positions)")}.");
    }

    public string OutDirectory { get; }

    public string ModelDirectory { get; }

    public Action<string> Log { get; }

    public LlavaOnevisionForConditionalGeneration Model { get; }

    public LlavaOnevisionConfig ModelConfig { get; }

    public TinyPrompts Prompts { get; }

    /// <summary>Steps done so far.</summary>
    public int Step { get; private set; }

    /// <summary>The schedule's length (may shrink once to fit the time limit).</summary>
    public int TotalSteps { get; private set; }

    public List<TinyStepResult> History { get; } = [];

    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());

    /// <summary>Visual tokens of a video of <paramref name="frames"/> frames (2×2-pooled grid per frame + one newline).</summary>
    public int VideoTokens(int frames) => (int)Model.VideoTokenCount(frames);

    /// <summary>Learning rate at <paramref name="step"/> (0-based): linear warm-up, then cosine to min_lr_ratio·lr.</summary>
    public double LearningRateAt(int step)
    {
        double peak = _config.LearningRate;
        if (step < _config.WarmupSteps)
        {
            return peak * (step + 1) / _config.WarmupSteps;
        }

        double progress = Math.Clamp((double)(step - _config.WarmupSteps) / Math.Max(1, TotalSteps - _config.WarmupSteps), 0, 1);
        double min = peak * _config.MinLearningRateRatio;
        return min + ((peak - min) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    /// <summary>
    /// The batch of step <paramref name="step"/> (deterministic): every needle_every-th step a needle batch, else a mix of
    /// the short tasks (in rotation, or drawn by task_weights); with v2pe_strides each sample draws its stride.
    /// </summary>
    public TinyBatch MakeBatch(int step)
    {
        bool needle = _config.NeedleEvery > 0 && step % _config.NeedleEvery == _config.NeedleEvery - 1;
        int b = needle ? _config.NeedleBatch : _config.Batch, f = needle ? _config.NeedleFrames : _config.Frames, s = _config.Model.ImageSize;
        var samples = new (int[] Ids, int[] Labels, SyntheticSample Sample)[b];
        int videoTokens = VideoTokens(f);
        Parallel.For(0, b, i =>
        {
            long index = ((long)step * b) + i;
            string task;
            long sampleIndex;
            if (needle)
            {
                (task, sampleIndex) = ("needle", index);
            }
            else
            {
                task = ShortTaskOf(index);
                sampleIndex = _taskCumulative is null ? index / ShortTasks.Length : index;   // seeds are disjoint per task, so one index serves all
            }

            SyntheticSample sample = _videos.Generate(DataSplit.Train, task, sampleIndex % 9_000_000, f);
            (int[] ids, int[] labels) = Prompts.TrainingIds(sample, videoTokens);
            samples[i] = (ids, labels, sample);
        });
        int l = samples.Max(x => x.Ids.Length);
        long[] idData = new long[b * l], labelData = new long[b * l];
        byte[] pixels = new byte[(long)b * f * s * s * 3];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < l; j++)
            {
                bool real = j < samples[i].Ids.Length;
                idData[(i * l) + j] = real ? samples[i].Ids[j] : Prompts.PadId;
                labelData[(i * l) + j] = real ? samples[i].Labels[j] : TinyPrompts.IgnoreIndex;
            }

            for (int k = 0; k < f; k++)
            {
                Buffer.BlockCopy(samples[i].Sample.Frames[k], 0, pixels, ((i * f) + k) * s * s * 3, s * s * 3);
            }
        }

        float[]? positions = null;
        if (_config.V2peStrides is { } strides)
        {
            int[] drawn = Enumerable.Range(0, b).Select(i => strides[(int)(Uniform(((long)step * b) + i, 0x2F5E) * strides.Length)]).ToArray();
            if (drawn.Any(x => x != V2pePositions.TokensPerTile))
            {
                positions = new float[b * l];
                var isVisual = new bool[l];
                for (int i = 0; i < b; i++)
                {
                    for (int j = 0; j < l; j++)
                    {
                        isVisual[j] = idData[(i * l) + j] == ModelConfig.VideoTokenIndex;
                    }

                    double[] row = V2pePositions.Compute(isVisual, drawn[i]);          // padding (text, at the end) continues the count: never attended by real tokens
                    for (int j = 0; j < l; j++)
                    {
                        positions[(i * l) + j] = (float)row[j];
                    }
                }
            }
        }

        return new TinyBatch(step, b, l, idData, labelData, f, s, pixels, needle ? "needle" : "short", positions);
    }

    /// <summary>The short task of the <paramref name="index"/>-th sample of the run: in rotation, or drawn by task_weights (deterministic).</summary>
    public string ShortTaskOf(long index)
    {
        if (_taskCumulative is not { } cumulative)
        {
            return ShortTasks[(int)(index % ShortTasks.Length)];
        }

        double u = Uniform(index, 0x7A5C) * cumulative[^1].Cumulative, below = 0;
        string last = cumulative[0].Task;
        foreach ((string task, double upTo) in cumulative)
        {
            if (upTo > below)
            {
                last = task;                                                            // the last task of weight > 0 (rounding at the top end)
            }

            if (u < upTo)
            {
                return task;
            }

            below = upTo;
        }

        return last;
    }

    private static double Uniform(long index, long salt) => SyntheticVideos.Uniform(index, salt);

    /// <summary>Loss and answer-token accuracy of a batch; with <paramref name="train"/> also backward, clip and an optimizer step.</summary>
    public TinyStepResult RunStep(TinyBatch batch, bool train = true)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using DisposeScope scope = NewDisposeScope();
        Tensor ids = tensor(batch.Ids, [batch.B, batch.L]).to(_device);
        Tensor labels = tensor(batch.Labels, [batch.B, batch.L]).to(_device);
        Tensor pixels = Pixels(batch.Pixels, batch.B, batch.F, batch.S, _device, _normalization);
        Tensor? positions = batch.Positions is { } p ? tensor(p, [batch.B, batch.L]).to(_device) : null;
        double lr = LearningRateAt(batch.Step);
        using IDisposable gradMode = train ? enable_grad() : no_grad();               // explicit either way: grad mode is per thread
        Qwen2CausalLMOutputScope output = new(Model.forward(new LlavaOnevisionInput
        {
            InputIds = ids,
            PixelValuesVideos = pixels,
            PositionIds = positions,
            Options = new VlmOptions { VisionBatchSize = batch.B * batch.F },
        }));
        Tensor logits = output.Logits;                                                 // [B, L, V]
        long v = logits.shape[2];
        Tensor predicted = logits.narrow(1, 0, batch.L - 1).reshape(-1, v).to(ScalarType.Float32);   // [B·(L−1), V]
        Tensor target = labels.narrow(1, 1, batch.L - 1).reshape(-1);                  // [B·(L−1)]
        Tensor loss = nn.functional.cross_entropy(predicted, target, ignore_index: TinyPrompts.IgnoreIndex);
        Tensor counted = target.ne(TinyPrompts.IgnoreIndex);
        double accuracy = predicted.argmax(-1).eq(target).logical_and(counted).sum().item<long>() / (double)Math.Max(1, counted.sum().item<long>());
        double gradNorm = 0;
        if (train)
        {
            _optimizer.zero_grad();
            loss.backward();
            gradNorm = nn.utils.clip_grad_norm_(_parameters, _config.ClipNorm);
            foreach (var group in _optimizer.ParamGroups)
            {
                group.LearningRate = lr;
            }

            _optimizer.step();
            Step = batch.Step + 1;
        }

        var result = new TinyStepResult(batch.Step, loss.item<float>(), accuracy, lr, gradNorm, batch.Kind);
        if (train)
        {
            History.Add(result);
        }

        return result;
    }

    /// <summary>Runs steps from <see cref="Step"/> until <see cref="TotalSteps"/> (or <paramref name="untilStep"/>), with batches made on background threads.</summary>
    public async Task TrainAsync(int? untilStep, CancellationToken cancellationToken)
    {
        int start = Step;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateBounded<TinyBatch>(new BoundedChannelOptions(_config.Prefetch) { SingleReader = true, SingleWriter = true });
        Task producer = Task.Run(async () =>
        {
            try
            {
                for (int s = start; !cts.IsCancellationRequested; s++)
                {
                    await channel.Writer.WriteAsync(MakeBatch(s), cts.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                channel.Writer.TryComplete();
            }
        }, CancellationToken.None);

        var clock = Stopwatch.StartNew();
        double waited = 0;
        (double Seconds, int Step)? fitClock = null;
        var marks = new List<(double Seconds, int Step)> { (0, Step) };   // (time, step) every 20 steps
        try
        {
            while (Step < Math.Min(TotalSteps, untilStep ?? int.MaxValue))
            {
                var wait = Stopwatch.StartNew();
                TinyBatch batch = await channel.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
                waited += wait.Elapsed.TotalSeconds;
                if (batch.Step != Step)
                {
                    throw new InvalidOperationException($"Batch for step {batch.Step} arrived at step {Step}.");
                }

                TinyStepResult r = RunStep(batch);
                int done = Step - start;
                if (_config.FitStepsToTime && done == 40)
                {
                    double perStep = clock.Elapsed.TotalSeconds / done;
                    int fit = Step + (int)((_config.TimeLimitSeconds - clock.Elapsed.TotalSeconds) / perStep);
                    if (fit < TotalSteps)
                    {
                        Log($"{perStep * 1000:F0} ms/step: the schedule shrinks from {TotalSteps} to {fit} steps to fit {_config.TimeLimitSeconds:F0} s.");
                        TotalSteps = Math.Max(Step + 1, fit);
                    }

                    fitClock = (clock.Elapsed.TotalSeconds, Step);
                }
                else if (_config.FitStepsToTime && done == 240 && fitClock is { } first)
                {
                    // The first steps include warm-up (kernel selection, allocator growth); the rate over steps 40 … 240 is the steady one.
                    double perStep = (clock.Elapsed.TotalSeconds - first.Seconds) / (Step - first.Step);
                    int fit = Math.Min(_config.Steps, Step + (int)((_config.TimeLimitSeconds - clock.Elapsed.TotalSeconds) / perStep));
                    if (fit != TotalSteps && fit > Step)
                    {
                        Log($"{perStep * 1000:F0} ms/step (steady): the schedule moves from {TotalSteps} to {fit} steps to fit {_config.TimeLimitSeconds:F0} s.");
                        TotalSteps = fit;
                    }
                }

                if (done % 20 == 0)
                {
                    marks.Add((clock.Elapsed.TotalSeconds, Step));
                }

                if (_config.FitStepsToTime && done > 40 && done != 240 && done % 20 == 0)
                {
                    // Later slow-downs (a shared GPU or CPU): shrink so the projected end, at the rate of the last ≤ 100
                    // steps, stays within the limit; at the limit, stop.
                    double elapsed = clock.Elapsed.TotalSeconds;
                    (double Seconds, int Step) from = marks[Math.Max(1, marks.Count - 6)];
                    double perStep = (elapsed - from.Seconds) / Math.Max(1, Step - from.Step);
                    int fit = elapsed >= _config.TimeLimitSeconds ? Step : Step + (int)((_config.TimeLimitSeconds - elapsed) / perStep);
                    if (fit < TotalSteps && (fit == Step || TotalSteps - fit > Math.Max(2, TotalSteps / 50)))
                    {
                        Log($"{perStep * 1000:F0} ms/step lately: the schedule shrinks from {TotalSteps} to {fit} steps to end within {_config.TimeLimitSeconds:F0} s.");
                        TotalSteps = fit;
                    }
                }

                if (Step % _config.LogEvery == 0 || Step == TotalSteps)
                {
                    var recent = History.TakeLast(_config.LogEvery).ToList();
                    Log(string.Create(CultureInfo.InvariantCulture,
                        $"step {Step}/{TotalSteps} loss {recent.Average(x => x.Loss):F4} answer-token acc {recent.Average(x => x.TokenAccuracy):F3} lr {r.LearningRate:E2} grad {r.GradNorm:F2} {clock.Elapsed.TotalSeconds:F0}s (waited for data {waited:F1}s)"));
                }

                if (Step % _config.CheckpointEvery == 0 && Step < TotalSteps)
                {
                    SaveCheckpoint();
                }
            }
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            while (channel.Reader.TryRead(out _))
            {
            }

            await producer.ConfigureAwait(false);
        }
    }

    /// <summary>Model weights, optimizer state and step (and the schedule and history) under the output folder.</summary>
    public void SaveCheckpoint()
    {
        Model.save(Path.Combine(OutDirectory, CheckpointModel));
        _optimizer.save_state_dict(Path.Combine(OutDirectory, CheckpointOptimizer));
        var state = new JsonObject
        {
            ["step"] = Step,
            ["total_steps"] = TotalSteps,
            ["history"] = new JsonArray(History.Select(h => (JsonNode)new JsonArray(h.Step, h.Loss, h.TokenAccuracy, h.LearningRate, h.Kind)).ToArray()),
        };
        File.WriteAllText(Path.Combine(OutDirectory, CheckpointState), state.ToJsonString());
        Log($"checkpoint at step {Step}");
    }

    /// <summary>Restores the checkpoint written by <see cref="SaveCheckpoint"/>.</summary>
    public void LoadCheckpoint()
    {
        string statePath = Path.Combine(OutDirectory, CheckpointState);
        if (!File.Exists(statePath))
        {
            throw new VideoLongException($"No checkpoint to resume from in '{OutDirectory}' ({CheckpointState} is missing).");
        }

        Model.load(Path.Combine(OutDirectory, CheckpointModel));
        _optimizer.load_state_dict(Path.Combine(OutDirectory, CheckpointOptimizer));
        JsonNode state = JsonNode.Parse(File.ReadAllText(statePath))!;
        Step = state["step"]!.GetValue<int>();
        TotalSteps = state["total_steps"]!.GetValue<int>();
        History.Clear();
        foreach (JsonNode? h in state["history"]!.AsArray())
        {
            History.Add(new TinyStepResult(h![0]!.GetValue<int>(), h[1]!.GetValue<double>(), h[2]!.GetValue<double>(), h[3]!.GetValue<double>(), 0, h[4]!.GetValue<string>()));
        }

        Log($"resumed at step {Step} of {TotalSteps}");
    }

    /// <summary>Writes model.safetensors (bf16; the tied lm_head is left out, the loader ties it) and the loss curve into <see cref="ModelDirectory"/>.</summary>
    public async Task ExportAsync(CancellationToken cancellationToken)
    {
        var tensors = new List<SafetensorsTensor>();
        foreach ((string name, Tensor value) in Model.state_dict())
        {
            if (name == "language_model.lm_head.weight" && ModelConfig.TieWordEmbeddings)
            {
                continue;
            }

            float[] data = value.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
            tensors.Add(new SafetensorsTensor(name, TensorDtype.BF16, value.shape, (stream, ct) => SafetensorsWriter.WriteFloatsAsync(stream, data, TensorDtype.BF16, ct)));
        }

        await using (FileStream file = File.Create(Path.Combine(ModelDirectory, "model.safetensors")))
        {
            await SafetensorsWriter.WriteAsync(file, tensors, new Dictionary<string, string> { ["format"] = "pt" }, cancellationToken).ConfigureAwait(false);
        }

        WriteCurve(Path.Combine(ModelDirectory, "training-curve.png"));
    }

    /// <summary>
    /// Loss (red: short-task batches, orange: needle batches) and answer-token error 1 − accuracy (blue, dark blue), on one
    /// log axis, each averaged over windows of its own steps (the two kinds differ in difficulty, so they are not mixed).
    /// </summary>
    public void WriteCurve(string path)
    {
        var series = new List<(IReadOnlyList<(double X, double Y)> Points, byte[] Rgb)>();
        foreach ((string kind, byte[] lossRgb, byte[] errorRgb) in new[] { ("short", new byte[] { 200, 30, 30 }, new byte[] { 30, 60, 200 }), ("needle", new byte[] { 240, 150, 20 }, new byte[] { 20, 20, 110 }) })
        {
            var steps = History.Where(h => h.Kind == kind).ToList();
            int window = Math.Max(1, steps.Count / 150);
            var loss = new List<(double, double)>();
            var error = new List<(double, double)>();
            for (int i = 0; i + window <= steps.Count; i += window)
            {
                var w = steps.Skip(i).Take(window).ToList();
                loss.Add((w[^1].Step, w.Average(x => x.Loss)));
                error.Add((w[^1].Step, Math.Max(1e-3, 1 - w.Average(x => x.TokenAccuracy))));
            }

            series.Add((loss, lossRgb));
            series.Add((error, errorRgb));
        }

        PngPlot.Write(path, series, logY: true);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        Model.Dispose();
    }

    /// <summary>
    /// RGB24 frames [B·F, S, S, 3] as the tower's input [B, F, 3, S, S], normalised as SigLIP's processor (x/127.5 − 1), or
    /// with <paramref name="normalization"/> ((x/255 − mean)/std per channel; the ResNet18 tower's, see <see cref="NormalizationFor"/>).
    /// </summary>
    public static Tensor Pixels(byte[] rgb, int b, int f, int s, Device device, Vision.PixelNormalization? normalization = null)
    {
        using Tensor raw = tensor(rgb, [b, f, s, s, 3]);
        using Tensor moved = raw.to(device);
        if (normalization is null)
        {
            return moved.permute(0, 1, 4, 2, 3).to(ScalarType.Float32).div(127.5).sub(1.0);
        }

        using DisposeScope scope = NewDisposeScope();
        float[] scale = Enumerable.Range(0, 3).Select(c => 1f / (255f * normalization.Std[c])).ToArray();
        float[] bias = Enumerable.Range(0, 3).Select(c => -normalization.Mean[c] / normalization.Std[c]).ToArray();
        Tensor x = moved.permute(0, 1, 4, 2, 3).to(ScalarType.Float32);
        Tensor result = x.mul(tensor(scale, [1, 1, 3, 1, 1]).to(device)).add(tensor(bias, [1, 1, 3, 1, 1]).to(device));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The pixel normalisation a model's tower takes when it is not SigLIP's (x/127.5 − 1): the ResNet18 tower's; else null.</summary>
    public static Vision.PixelNormalization? NormalizationFor(LlavaOnevisionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.VisionConfig is ResNet18VisionConfig ? ResNet18VisionConfig.Normalization : null;
    }

    /// <summary>GPT-style initialisation: matrices (and the patch convolution, embeddings) N(0, 0.02), biases 0, norm scales 1.</summary>
    private static void Initialise(nn.Module model)
    {
        using IDisposable noGrad = no_grad();
        foreach ((string name, Parameter p) in model.named_parameters())
        {
            if (p.dim() >= 2)
            {
                nn.init.normal_(p, 0, 0.02);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal) || name.EndsWith("image_newline", StringComparison.Ordinal))
            {
                p.zero_();
            }
            else
            {
                p.fill_(1.0);
            }
        }
    }

    /// <summary>Keeps the logits of a forward alive for the step (the output's other tensors are not used).</summary>
    private readonly struct Qwen2CausalLMOutputScope(Language.Models.Qwen2.Qwen2CausalLMOutput output)
    {
        public Tensor Logits => output.Logits;
    }
}
