using TorchSharp;
using VideoLong.Vision.Models;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Vision.Tests.Models.ResNet;

/// <summary>
/// An independent reference: interprets the ONNX graph node by node in plain C# loops (Conv with the graph's own
/// kernel/strides/pads, BatchNormalization, Relu, MaxPool, Add), batch 1, float64 accumulation. It shares no code with
/// the TorchSharp tower or the importer.
/// </summary>
internal static class OnnxInterpreter
{
    public sealed record Map(int C, int H, int W, float[] Data);

    public static Dictionary<string, Map> Run(OnnxModel model, string input, Map x, Func<OnnxNode, bool> stopAfter)
    {
        var values = new Dictionary<string, Map>(StringComparer.Ordinal) { [input] = x };
        foreach (OnnxNode node in model.Nodes)
        {
            Map a = values[node.Inputs[0]];
            values[node.Outputs[0]] = node.OpType switch
            {
                "Conv" => Conv(a, model.Initializer(node.Inputs[1]), node.Ints("strides"), node.Ints("pads")),
                "BatchNormalization" => Bn(a, [.. node.Inputs.Skip(1).Select(n => model.Initializer(n).Data)], node.FloatValue("epsilon", 1e-5f)),
                "Relu" => a with { Data = a.Data.Select(v => Math.Max(v, 0f)).ToArray() },
                "Add" => a with { Data = a.Data.Zip(values[node.Inputs[1]].Data, (p, q) => p + q).ToArray() },
                "MaxPool" => MaxPool(a, node.Ints("kernel_shape"), node.Ints("strides"), node.Ints("pads")),
                _ => throw new InvalidOperationException($"op {node.OpType} not interpreted"),
            };
            if (stopAfter(node))
            {
                break;
            }
        }

        return values;
    }

    // ONNX pads: [top, left, bottom, right]; output = floor((in + begin + end − k) / s) + 1.
    private static Map Conv(Map x, OnnxTensor w, long[] s, long[] p)
    {
        int o = (int)w.Dims[0], c = (int)w.Dims[1], kh = (int)w.Dims[2], kw = (int)w.Dims[3];
        int oh = (int)(((x.H + p[0] + p[2] - kh) / s[0]) + 1), ow = (int)(((x.W + p[1] + p[3] - kw) / s[1]) + 1);
        float[] y = new float[o * oh * ow];
        Parallel.For(0, o, oc =>
        {
            for (int i = 0; i < oh; i++)
            {
                for (int j = 0; j < ow; j++)
                {
                    double sum = 0;
                    for (int ic = 0; ic < c; ic++)
                    {
                        for (int u = 0; u < kh; u++)
                        {
                            int r = (int)((i * s[0]) - p[0] + u);
                            if (r < 0 || r >= x.H)
                            {
                                continue;
                            }

                            for (int v = 0; v < kw; v++)
                            {
                                int q = (int)((j * s[1]) - p[1] + v);
                                if (q >= 0 && q < x.W)
                                {
                                    sum += (double)x.Data[(((ic * x.H) + r) * x.W) + q] * w.Data[(((((oc * c) + ic) * kh) + u) * kw) + v];
                                }
                            }
                        }
                    }

                    y[(((oc * oh) + i) * ow) + j] = (float)sum;
                }
            }
        });
        return new Map(o, oh, ow, y);
    }

    private static Map Bn(Map x, float[][] p, float eps)
    {
        float[] y = new float[x.Data.Length];
        int plane = x.H * x.W;
        for (int c = 0; c < x.C; c++)
        {
            double scale = p[0][c] / Math.Sqrt(p[3][c] + (double)eps);
            for (int k = 0; k < plane; k++)
            {
                y[(c * plane) + k] = (float)(((x.Data[(c * plane) + k] - p[2][c]) * scale) + p[1][c]);
            }
        }

        return x with { Data = y };
    }

    private static Map MaxPool(Map x, long[] k, long[] s, long[] p)
    {
        int oh = (int)(((x.H + p[0] + p[2] - k[0]) / s[0]) + 1), ow = (int)(((x.W + p[1] + p[3] - k[1]) / s[1]) + 1);
        float[] y = new float[x.C * oh * ow];
        for (int c = 0; c < x.C; c++)
        {
            for (int i = 0; i < oh; i++)
            {
                for (int j = 0; j < ow; j++)
                {
                    float m = float.NegativeInfinity;
                    for (int u = 0; u < k[0]; u++)
                    {
                        for (int v = 0; v < k[1]; v++)
                        {
                            int r = (int)((i * s[0]) - p[0] + u), q = (int)((j * s[1]) - p[1] + v);
                            if (r >= 0 && r < x.H && q >= 0 && q < x.W)
                            {
                                m = Math.Max(m, x.Data[(((c * x.H) + r) * x.W) + q]);
                            }
                        }
                    }

                    y[(((c * oh) + i) * ow) + j] = m;
                }
            }
        }

        return new Map(x.C, oh, ow, y);
    }
}

public sealed class When_the_ResNet18_tower_runs_with_the_ImageNet_weights
{
    private const int Size = 64;

    /// <summary>A generated 64² RGB image: gradients, a disc and stripes (not constant, so every filter matters).</summary>
    private static byte[] Image()
    {
        byte[] rgb = new byte[Size * Size * 3];
        for (int y = 0; y < Size; y++)
        {
            for (int x = 0; x < Size; x++)
            {
                bool disc = ((x - 40) * (x - 40)) + ((y - 22) * (y - 22)) < 150;
                int i = ((y * Size) + x) * 3;
                rgb[i] = (byte)(disc ? 230 : x * 4);
                rgb[i + 1] = (byte)(disc ? 40 : y * 3);
                rgb[i + 2] = (byte)((x / 4 % 2 == 0) ^ (y > 32) ? 200 : 30);
            }
        }

        return rgb;
    }

    [Fact]
    public void It_reproduces_an_independent_interpretation_of_the_onnx_graph_after_layer2_and_layer3()
    {
        OnnxModel model = When_the_ML_NET_ResNet18_package_file_is_read.ResNet18;
        byte[] rgb = Image();

        // Reference: ML.NET's input (BGR planes, 0…255 minus the mean per channel) through the graph itself.
        float[] bgr = new float[3 * Size * Size];
        for (int c = 0; c < 3; c++)
        {
            for (int k = 0; k < Size * Size; k++)
            {
                bgr[(c * Size * Size) + k] = rgb[(k * 3) + (2 - c)] - ResNet18VisionConfig.MlNetMeanRgb[2 - c];
            }
        }

        // The 1×1 shortcut convolutions of layer3 and layer4 take the outputs of layer2 and layer3.
        var shortcuts = model.Nodes.Where(n => n.OpType == "Conv" && model.Initializer(n.Inputs[1]).Dims[2] == 1).ToList();
        Dictionary<string, OnnxInterpreter.Map> values = OnnxInterpreter.Run(model, model.Inputs[0], new OnnxInterpreter.Map(3, Size, Size, bgr),
            n => n.Inputs[0] == shortcuts[2].Inputs[0]);
        OnnxInterpreter.Map layer2 = values[shortcuts[1].Inputs[0]];
        OnnxInterpreter.Map layer3 = values[shortcuts[2].Inputs[0]];
        Assert.Equal((128, 8, 8), (layer2.C, layer2.H, layer2.W));
        Assert.Equal((256, 4, 4), (layer3.C, layer3.H, layer3.W));

        // The tower: RGB normalised as the model folder's preprocessor_config.json says.
        float[] planar = new float[3 * Size * Size];
        PixelNormalizer.ToPlanar(rgb, Size, Size, ResNet18VisionConfig.Normalization, planar);
        using Tensor pixels = tensor(planar, [1, 3, Size, Size]);
        foreach ((int stages, OnnxInterpreter.Map expected) in new[] { (2, layer2), (3, layer3) })
        {
            using var tower = new ResNet18VisionModel(new ResNet18VisionConfig { ImageSize = Size, NumStages = stages });
            ResNet18OnnxImport.LoadInto(tower, model);
            tower.eval();
            using IDisposable noGrad = no_grad();
            using Tensor features = tower.ForwardFeatures(pixels, -1);                // [1, g², C]
            Assert.Equal([1L, expected.H * expected.W, expected.C], features.shape);
            float[] got = features[0].transpose(0, 1).contiguous().data<float>().ToArray();   // [C, g²] like the reference
            double scale = expected.Data.Max(v => Math.Abs(v));
            double worst = got.Zip(expected.Data, (g, e) => Math.Abs(g - e)).Max();
            Assert.True(scale > 1, $"degenerate reference (max |x| = {scale})");
            Assert.True(worst < 1e-4 * scale, $"{stages} stages: max |tower − reference| = {worst} (max |reference| = {scale})");
        }
    }

    [Fact]
    public void Frames_in_a_batch_give_16_tokens_of_256_channels_each_with_2_8M_parameters()
    {
        var config = new ResNet18VisionConfig { ImageSize = 64 };
        Assert.Equal((4, 256, 16), (config.GridSize, config.HiddenSize, config.Stride));
        using var tower = new ResNet18VisionModel(config);
        Assert.Equal(2_782_784, tower.parameters().Sum(p => p.numel()));
        using Tensor pixels = randn(6, 3, 64, 64);
        using IDisposable noGrad = no_grad();
        tower.eval();
        using Tensor features = tower.ForwardFeatures(pixels, -1);
        Assert.Equal([6L, 16, 256], features.shape);
        using Tensor one = tower.ForwardFeatures(pixels.narrow(0, 2, 1), -1);          // batch-independent in eval mode
        Assert.True(one.allclose(features.narrow(0, 2, 1), 1e-4, 1e-4));
        Assert.Throws<ModelInputException>(() => tower.ForwardFeatures(randn(1, 3, 48, 48), -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => tower.ForwardFeatures(pixels, 2));
    }

    [Fact]
    public void Configs_are_validated_and_name_the_key()
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() => ResNet18VisionConfig.FromJson("""{"vision_config": {"model_type": "resnet18_truncated", "image_size": 40}}"""));
        Assert.Equal("vision_config.image_size", e.Key);
        Assert.Equal("num_stages", Assert.Throws<ModelConfigException>(() => ResNet18VisionConfig.FromJson("""{"image_size": 64, "num_stages": 4}""")).Key);
        Assert.Equal("image_size", Assert.Throws<ModelConfigException>(() => ResNet18VisionConfig.FromJson("""{"num_stages": 2}""")).Key);
        Assert.Equal("model_type", Assert.Throws<ModelConfigException>(() => ResNet18VisionConfig.FromJson("""{"model_type": "siglip_vision_model", "image_size": 64}""")).Key);
        var config = ResNet18VisionConfig.FromJson(new ResNet18VisionConfig { ImageSize = 64 }.ToJson().ToJsonString());
        Assert.Equal(new ResNet18VisionConfig { ImageSize = 64 }, config);
    }

    [Fact]
    public void A_graph_whose_padding_the_tower_does_not_compute_is_refused()
    {
        // The same file with conv1's pads made symmetric: a different network; the importer must not load it silently.
        OnnxModel model = When_the_ML_NET_ResNet18_package_file_is_read.ResNet18;
        OnnxNode conv1 = model.Nodes.First(n => n.OpType == "Conv");
        var attributes = new Dictionary<string, OnnxAttribute>(conv1.Attributes) { ["pads"] = conv1.Attributes["pads"] with { Ints = [3, 3, 3, 3] } };
        var nodes = model.Nodes.Select(n => ReferenceEquals(n, conv1) ? n with { Attributes = attributes } : n).ToList();
        OnnxModel changed = model.WithNodes(nodes);
        OnnxFormatException e = Assert.Throws<OnnxFormatException>(() => ResNet18OnnxImport.StateDict(changed, 3));
        Assert.Contains("pads [3, 3, 3, 3]", e.Message, StringComparison.Ordinal);
    }
}
