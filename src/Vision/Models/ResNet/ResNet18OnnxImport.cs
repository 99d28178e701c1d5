using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Vision.Models.ResNet;

/// <summary>
/// Reads the ImageNet ResNet18 of ML.NET's DnnImageFeaturizer (ResNet18.onnx, exported from CNTK: Conv without bias →
/// BatchNormalization → Relu, Add for the shortcuts, 1×1 strided Conv → BatchNormalization for the downsampling
/// shortcuts, a global AveragePool output of 512 features, no classifier) into torchvision parameter names. Unlike
/// torchvision's resnet18, CNTK's has three BasicBlocks in layer4 (22 convolutions); the tower keeps at most layer3, whose
/// layout (conv1, then two blocks per stage) is torchvision's. The graph's
/// structure and every convolution's kernel, stride and padding are checked against what <see cref="ResNet18VisionModel"/>
/// computes, so a graph the module would not reproduce fails instead of loading. conv1's input channels are flipped:
/// the graph takes BGR (ML.NET's ResNetPreprocess.onnx swaps the channels), the tower takes RGB.
/// </summary>
public static class ResNet18OnnxImport
{
    public const string PackageId = "microsoft.ml.dnnimagefeaturizer.resnet18";
    public const string PackageVersion = "0.23.1";

    /// <summary>
    /// ResNet18.onnx in the NuGet package cache (NUGET_PACKAGES, else ~/.nuget/packages): restored by a PackageDownload of
    /// Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (see tests/Vision.Tests).
    /// </summary>
    public static string DefaultOnnxPath() => Path.Combine(PackageFolder(), "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>ResNetPreprocess.onnx (channel swap and mean image) next to it.</summary>
    public static string DefaultPreprocessPath() => Path.Combine(PackageFolder(), "tools", "DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    private static string PackageFolder()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, PackageId, PackageVersion);
    }

    /// <summary>The graph's weights for the first <paramref name="numStages"/> stages, by torchvision name (conv1 in RGB order).</summary>
    public static IReadOnlyDictionary<string, OnnxTensor> StateDict(OnnxModel model, int numStages)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (numStages is < 1 or > 3)
        {
            throw new ArgumentOutOfRangeException(nameof(numStages), numStages, "1 to 3 stages.");
        }

        string source = $"ResNet18 ONNX graph '{model.GraphName}'";
        var convs = model.Nodes.Where(n => n.OpType == "Conv").ToList();
        if (convs.Count != 22 || model.Nodes.Count(n => n.OpType == "BatchNormalization") != 22 || model.Nodes.Count(n => n.OpType == "Add") != 9
            || model.Nodes.Count(n => n.OpType == "MaxPool") != 1)
        {
            throw new OnnxFormatException(source, $"is not ML.NET's ResNet18 (22 Conv, 22 BatchNormalization, 9 Add, 1 MaxPool expected; it has {convs.Count} Conv, " +
                $"{model.Nodes.Count(n => n.OpType == "BatchNormalization")} BatchNormalization, {model.Nodes.Count(n => n.OpType == "Add")} Add).");
        }

        OnnxNode maxPool = model.Nodes.Single(n => n.OpType == "MaxPool");
        Expect(maxPool, "the max-pool", [3, 3], [2, 2], [1, 1, 0, 0], source);
        var result = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var spatial = convs.Where(c => Weight(model, c, source).Dims[2] != 1).ToList();   // conv1 and the 18 block 3×3 convs, in graph order
        var shortcuts = convs.Where(c => Weight(model, c, source).Dims[2] == 1).ToList(); // layer2–4 downsample convs
        if (spatial.Count != 19 || shortcuts.Count != 3)
        {
            throw new OnnxFormatException(source, $"has {spatial.Count} spatial and {shortcuts.Count} 1×1 convolutions; ML.NET's ResNet18 has 19 and 3.");
        }

        Add(result, model, spatial[0], "conv1", "bn1", [7, 7], [2, 2], [3, 3, 2, 2], flipInput: true, source);
        for (int stage = 1; stage <= numStages; stage++)
        {
            for (int block = 0; block < 2; block++)
            {
                int index = 1 + ((((stage - 1) * 2) + block) * 2);
                string prefix = $"layer{stage}.{block}.";
                bool strided = stage > 1 && block == 0;
                Add(result, model, spatial[index], prefix + "conv1", prefix + "bn1", [3, 3], strided ? [2, 2] : [1, 1], strided ? [1, 1, 0, 0] : [1, 1, 1, 1], false, source);
                Add(result, model, spatial[index + 1], prefix + "conv2", prefix + "bn2", [3, 3], [1, 1], [1, 1, 1, 1], false, source);
                if (strided)
                {
                    Add(result, model, shortcuts[stage - 2], prefix + "downsample.0", prefix + "downsample.1", [1, 1], [2, 2], [0, 0, 0, 0], false, source);
                }
            }
        }

        return result;
    }

    /// <summary>Copies the graph's weights into <paramref name="tower"/> (every parameter and running statistic; shapes checked).</summary>
    public static void LoadInto(ResNet18VisionModel tower, OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(tower);
        IReadOnlyDictionary<string, OnnxTensor> weights = StateDict(model, tower.Config.NumStages);
        Dictionary<string, Tensor> targets = tower.state_dict();
        var missing = targets.Keys.Where(k => !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal) && !weights.ContainsKey(k)).ToList();
        var mismatched = weights.Where(w => targets.TryGetValue(w.Key, out Tensor? t) && !t.shape.SequenceEqual(w.Value.Dims))
            .Select(w => $"{w.Key}: expected [{string.Join(", ", targets[w.Key].shape)}], got [{string.Join(", ", w.Value.Dims)}]").ToList();
        var unexpected = weights.Keys.Where(k => !targets.ContainsKey(k)).ToList();
        if (missing.Count > 0 || mismatched.Count > 0 || unexpected.Count > 0)
        {
            throw new WeightLoadException(model.GraphName, tower.Config.Describe(), missing, unexpected, mismatched);
        }

        using IDisposable noGrad = no_grad();
        foreach ((string name, OnnxTensor value) in weights)
        {
            Tensor target = targets[name];
            using Tensor source = tensor(value.Data, value.Dims);
            target.copy_(source);
        }
    }

    private static OnnxTensor Weight(OnnxModel model, OnnxNode conv, string source)
    {
        if (conv.Inputs.Count != 2)
        {
            throw new OnnxFormatException(source, $"Conv '{conv.Name}' has {conv.Inputs.Count} inputs; a Conv without bias (2 inputs) followed by BatchNormalization is expected.");
        }

        OnnxTensor w = model.Initializer(conv.Inputs[1]);
        if (w.Dims.Length != 4)
        {
            throw new OnnxFormatException(source, $"Conv '{conv.Name}' has a weight of rank {w.Dims.Length}, expected 4.");
        }

        return w;
    }

    private static void Add(Dictionary<string, OnnxTensor> result, OnnxModel model, OnnxNode conv, string convName, string bnName,
        long[] kernel, long[] strides, long[] pads, bool flipInput, string source)
    {
        Expect(conv, convName, kernel, strides, pads, source);
        if (conv.Ints("group", 1).Single() != 1 || !conv.Ints("dilations", 1, 1).SequenceEqual([1L, 1L]))
        {
            throw new OnnxFormatException(source, $"{convName} ('{conv.Name}') is grouped or dilated; ResNet18 convolutions are neither.");
        }

        OnnxTensor w = Weight(model, conv, source);
        if (flipInput)
        {
            w = FlipInputChannels(w);
        }

        result[convName + ".weight"] = w with { Name = convName + ".weight" };
        var bns = model.Nodes.Where(n => n.Inputs.Count > 0 && n.Inputs[0] == conv.Outputs[0]).ToList();
        if (bns.Count != 1 || bns[0].OpType != "BatchNormalization" || bns[0].Inputs.Count != 5)
        {
            throw new OnnxFormatException(source, $"{convName} ('{conv.Name}') is not followed by exactly one BatchNormalization (scale, bias, mean, variance).");
        }

        float eps = bns[0].FloatValue("epsilon", 1e-5f);
        if (Math.Abs(eps - 1e-5f) > 1e-7f)
        {
            throw new OnnxFormatException(source, $"{bnName} has epsilon {eps}; the tower uses 1e-5.");
        }

        string[] parts = ["weight", "bias", "running_mean", "running_var"];
        for (int k = 0; k < 4; k++)
        {
            OnnxTensor t = model.Initializer(bns[0].Inputs[k + 1]);
            if (t.Dims.Length != 1 || t.Dims[0] != w.Dims[0])
            {
                throw new OnnxFormatException(source, $"{bnName}.{parts[k]} has dims [{string.Join(", ", t.Dims)}], expected [{w.Dims[0]}].");
            }

            result[$"{bnName}.{parts[k]}"] = t with { Name = $"{bnName}.{parts[k]}" };
        }
    }

    private static void Expect(OnnxNode node, string what, long[] kernel, long[] strides, long[] pads, string source)
    {
        long[] k = node.Ints("kernel_shape"), s = node.Ints("strides", 1, 1), p = node.Ints("pads", 0, 0, 0, 0);
        if (!k.SequenceEqual(kernel) || !s.SequenceEqual(strides) || !p.SequenceEqual(pads)
            || (node.Attributes.TryGetValue("auto_pad", out OnnxAttribute? autoPad) && autoPad.S is { Length: > 0 } mode && mode != "NOTSET"))
        {
            throw new OnnxFormatException(source, $"{what} ('{node.Name}') has kernel [{string.Join(", ", k)}], strides [{string.Join(", ", s)}], pads [{string.Join(", ", p)}]; " +
                $"the tower computes kernel [{string.Join(", ", kernel)}], strides [{string.Join(", ", strides)}], pads [{string.Join(", ", pads)}].");
        }
    }

    /// <summary>[O, 3, kh, kw] with the input channels reversed (BGR ↔ RGB).</summary>
    private static OnnxTensor FlipInputChannels(OnnxTensor w)
    {
        long o = w.Dims[0], c = w.Dims[1], plane = w.Dims[2] * w.Dims[3];
        float[] flipped = new float[w.Data.Length];
        for (long i = 0; i < o; i++)
        {
            for (long j = 0; j < c; j++)
            {
                Array.Copy(w.Data, ((i * c) + j) * plane, flipped, ((i * c) + (c - 1 - j)) * plane, plane);
            }
        }

        return w with { Data = flipped };
    }
}
