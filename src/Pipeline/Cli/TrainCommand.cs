using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Training;
using VideoLong.Vision.Models;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong train --config FILE --out DIR [--resume]</c>: trains VideoLong-Tiny on generated synthetic videos and
/// writes the shippable model folder to DIR/model; <c>videolong tiny-eval --model DIR</c>: per-task exact-match accuracy
/// on the held-out test split (or the validation split); <c>videolong gen-data</c>: writes samples as PNG frames + JSON.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(CliContext cli)
    {
        var config = new Option<string>("--config") { Description = "Training config (JSON), e.g. models/videolong-tiny/train-stage5.json.", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output folder: checkpoints, log, and model/ (the shippable model).", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out." };
        var evalPerTask = new Option<int?>("--eval-per-task") { Description = "After training, evaluate N test samples per task (overrides eval_per_task)." };
        var command = new Command("train", "Train VideoLong-Tiny (TorchSharp) on generated synthetic videos.") { config, outDir, resume, evalPerTask };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TinyTrainConfig cfg = TinyTrainConfig.Load(parse.GetRequiredValue(config));
            string output = parse.GetRequiredValue(outDir);
            using var log = new StreamWriter(Path.Combine(Directory.CreateDirectory(output).FullName, "train-log.txt"), append: true) { AutoFlush = true };
            void Log(string line)
            {
                string stamped = $"{DateTime.UtcNow:HH:mm:ss} {line}";
                cli.Out.WriteLine(stamped);
                log.WriteLine(stamped);
            }

            using var trainer = new TinyTrainer(cfg, output, Log);
            File.Copy(parse.GetRequiredValue(config), Path.Combine(trainer.ModelDirectory, "train.json"), overwrite: true);
            if (parse.GetValue(resume))
            {
                trainer.LoadCheckpoint();
            }

            await trainer.TrainAsync(null, cancellationToken).ConfigureAwait(false);
            trainer.SaveCheckpoint();
            await trainer.ExportAsync(cancellationToken).ConfigureAwait(false);
            Log($"model written to {trainer.ModelDirectory}");
            int perTask = parse.GetValue(evalPerTask) ?? cfg.EvalPerTask;
            if (perTask > 0)
            {
                trainer.Model.eval();
                var evaluator = new TinyEvaluator(trainer.Model, trainer.Prompts);
                var cells = new List<TinyEvalCell>();
                foreach ((string task, int frames) in EvalPlan(cfg.Frames, cfg.NeedleFrames, cfg.NeedleFrames * 2, cfg.NeedleFrames * 4))
                {
                    TinyEvalCell cell = evaluator.Evaluate(new SyntheticVideos(cfg.Model.ImageSize), DataSplit.Test, task, frames, perTask, cancellationToken: cancellationToken);
                    cells.Add(cell);
                    Log(string.Create(CultureInfo.InvariantCulture, $"test {task}@{frames}: {cell.Accuracy:P1} ({cell.Correct}/{cell.Samples})") +
                        string.Concat(cell.Mistakes.Take(2).Select(m => $" | Q: {m.Question} want '{m.Expected}' got '{m.Got}'")));
                }

                WriteEval(Path.Combine(trainer.ModelDirectory, "eval.json"), cells);
                Log("\n" + TinyEvaluator.Table(cells));
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    public static Command CreateEval(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => "models/videolong-tiny" };
        var perTask = new Option<int>("--per-task") { Description = "Samples per task.", DefaultValueFactory = _ => 100 };
        var split = new Option<string>("--split") { Description = "test or validation.", DefaultValueFactory = _ => "test" };
        var frames = new Option<int>("--frames") { Description = "Frames of the short tasks.", DefaultValueFactory = _ => 16 };
        var needleFrames = new Option<string>("--needle-frames") { Description = "Comma-separated haystack lengths for the needle task.", DefaultValueFactory = _ => "64" };
        var tasks = new Option<string?>("--tasks") { Description = "Comma-separated tasks (default: all)." };
        var tokensPerFrame = new Option<int?>("--tokens-per-frame") { Description = "HiCo merge to N tokens per frame instead of the model's pooling." };
        var v2peStride = new Option<int?>("--v2pe-stride") { Description = "V2PE stride for every question (δ = stride/256 per visual token; 256 = standard positions, e.g. 64 or 16 for haystacks beyond the training length)." };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Write the cells as JSON." };
        var backgrounds = new Option<string?>("--backgrounds") { Description = "Folder of real-footage frames (PNG/JPEG) under the samples (as the training config's backgrounds)." };
        var backgroundFraction = new Option<double>("--background-fraction") { Description = "Share of samples on footage with --backgrounds (0 … 1).", DefaultValueFactory = _ => 1.0 };
        var command = new Command("tiny-eval", "Exact-match accuracy per synthetic task on held-out samples.")
        {
            model, perTask, split, frames, needleFrames, tasks, tokensPerFrame, v2peStride, device, json, backgrounds, backgroundFraction,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string dir = parse.GetValue(model)!;
            DataSplit which = parse.GetValue(split) switch
            {
                "test" => DataSplit.Test,
                "validation" => DataSplit.Validation,
                var other => throw new VideoLongException($"Invalid --split '{other}': use test or validation."),
            };
            int[] needles = ParseNeedleFrames(parse.GetValue(needleFrames)!);
            HashSet<string>? only = ParseTasks(parse.GetValue(tasks));
            VlmOptions? options = EvalOptions(parse.GetValue(tokensPerFrame), parse.GetValue(v2peStride));
            double fraction = parse.GetValue(backgroundFraction);
            if (fraction is < 0 or > 1)
            {
                throw new VideoLongException($"Invalid --background-fraction {fraction}: the share of samples on footage lies in [0, 1].");
            }

            using LlavaOnevisionForConditionalGeneration vlm = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(dir,
                new ModelLoadOptions { Device = parse.GetValue(device)!, DType = TorchSharp.torch.ScalarType.Float32 }, null, cancellationToken).ConfigureAwait(false);
            var prompts = new TinyPrompts(Qwen2Tokenizer.FromPretrained(dir));
            var evaluator = new TinyEvaluator(vlm, prompts);
            int size = vlm.Config.VisionConfig.ImageSize;
            var videos = parse.GetValue(backgrounds) is { } footage
                ? new SyntheticVideos(size, BackgroundFrames.Load(footage, size), fraction)
                : new SyntheticVideos(size);
            var cells = new List<TinyEvalCell>();
            foreach ((string task, int f) in EvalPlan(parse.GetValue(frames), needles).Where(c => only is null || only.Contains(c.Task)))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                TinyEvalCell cell = evaluator.Evaluate(videos, which, task, f, parse.GetValue(perTask), options, cancellationToken: cancellationToken);
                cells.Add(cell);
                if (!parse.GetValue(json))
                {
                    await cli.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{task}@{f}: {cell.Accuracy:P1} ({cell.Correct}/{cell.Samples}) in {clock.Elapsed.TotalSeconds:F1}s")).ConfigureAwait(false);
                }
            }

            if (parse.GetValue(json))
            {
                await cli.Out.WriteLineAsync(CellsJson(cells).ToJsonString()).ConfigureAwait(false);
            }
            else
            {
                await cli.Out.WriteLineAsync(TinyEvaluator.Table(cells)).ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    /// <summary>--needle-frames: comma-separated haystack lengths ≥ 4 (any length: positions are computed, not looked up, so 10× the training length works).</summary>
    internal static int[] ParseNeedleFrames(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]) || result[i] < 4)
            {
                throw new VideoLongException($"Invalid --needle-frames '{text}': expected comma-separated frame counts ≥ 4, e.g. 64,640.");
            }
        }

        return result;
    }

    /// <summary>--tasks: a comma-separated subset of the synthetic tasks; null = all.</summary>
    internal static HashSet<string>? ParseTasks(string? text)
    {
        if (text is null)
        {
            return null;
        }

        HashSet<string> tasks = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        if (tasks.Count == 0 || tasks.Any(t => !SyntheticVideos.Tasks.Contains(t)))
        {
            throw new VideoLongException($"Invalid --tasks '{text}': accepted tasks are {string.Join(", ", SyntheticVideos.Tasks)} (comma-separated).");
        }

        return tasks;
    }

    /// <summary>The VLM options of --tokens-per-frame and --v2pe-stride (null when neither is given), validated.</summary>
    internal static VlmOptions? EvalOptions(int? tokensPerFrame, int? v2peStride)
    {
        if (tokensPerFrame is null && v2peStride is null)
        {
            return null;
        }

        var options = new VlmOptions { TokensPerFrame = tokensPerFrame, V2peStride = v2peStride };
        options.Validate();
        return options;
    }

    /// <summary><c>videolong resnet18-export [--onnx FILE] --out FILE.safetensors</c>: the ImageNet ResNet18 tower (up to layer3) from ML.NET's ONNX file.</summary>
    public static Command CreateResNetExport(CliContext cli)
    {
        var onnx = new Option<string>("--onnx")
        {
            Description = "ResNet18.onnx of Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (default: the NuGet cache's copy).",
            DefaultValueFactory = _ => Vision.Models.ResNet.ResNet18OnnxImport.DefaultOnnxPath(),
        };
        var output = new Option<string>("--out") { Description = "The tower's weights (float32 safetensors, torchvision names), for init_vision_from.", Required = true };
        var stages = new Option<int>("--stages") { Description = "Stages kept (1-3).", DefaultValueFactory = _ => 3 };
        var dtype = new Option<string>("--dtype") { Description = "fp32 (exact) or bf16 (half the size, rounded).", DefaultValueFactory = _ => "fp32" };
        var command = new Command("resnet18-export", "Write the ImageNet ResNet18 tower weights of ML.NET's ONNX featurizer as safetensors.") { onnx, output, stages, dtype };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int n = parse.GetValue(stages);
            if (n is < 1 or > 3)
            {
                throw new VideoLongException($"Invalid --stages {n}: 1 to 3.");
            }

            TensorDtype type = parse.GetValue(dtype) switch
            {
                "fp32" => TensorDtype.F32,
                "bf16" => TensorDtype.BF16,
                var other => throw new VideoLongException($"Invalid --dtype '{other}': fp32 or bf16."),
            };
            long bytes = await ResNetTowerWeights.ExportAsync(parse.GetValue(onnx)!, parse.GetRequiredValue(output), n, type, cancellationToken).ConfigureAwait(false);
            await cli.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"wrote {parse.GetRequiredValue(output)} ({bytes / 1048576.0:F1} MiB)")).ConfigureAwait(false);
            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static IEnumerable<(string Task, int Frames)> EvalPlan(int frames, params int[] needleFrames) =>
        SyntheticVideos.Tasks.Where(t => t != "needle").Select(t => (t, frames)).Concat(needleFrames.Select(n => ("needle", n)));

    private static JsonArray CellsJson(IEnumerable<TinyEvalCell> cells) => new(cells.Select(c => (JsonNode)new JsonObject
    {
        ["task"] = c.Task,
        ["frames"] = c.Frames,
        ["samples"] = c.Samples,
        ["correct"] = c.Correct,
        ["accuracy"] = c.Accuracy,
        ["mistakes"] = new JsonArray(c.Mistakes.Select(m => (JsonNode)new JsonArray(m.Question, m.Expected, m.Got)).ToArray()),
    }).ToArray());

    private static void WriteEval(string path, IEnumerable<TinyEvalCell> cells) =>
        File.WriteAllText(path, CellsJson(cells).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}
