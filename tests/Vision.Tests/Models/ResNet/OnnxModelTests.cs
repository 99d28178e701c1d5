using System.Buffers.Binary;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Weights;

namespace VideoLong.Vision.Tests.Models.ResNet;

/// <summary>Writes protobuf by hand (independently of the reader) to build small ONNX models.</summary>
internal sealed class ProtoWriter
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    public ProtoWriter Varint(int field, ulong value) => Tag(field, 0).Raw(value);

    public ProtoWriter Bytes(int field, byte[] value)
    {
        Tag(field, 2).Raw((ulong)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, ProtoWriter inner) => Bytes(field, inner.ToArray());

    public ProtoWriter Fixed32(int field, float value)
    {
        Tag(field, 5);
        byte[] b = new byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, value);
        _bytes.AddRange(b);
        return this;
    }

    public ProtoWriter PackedFloats(int field, params float[] values)
    {
        byte[] b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), values[i]);
        }

        return Bytes(field, b);
    }

    public ProtoWriter PackedVarints(int field, params long[] values)
    {
        var inner = new ProtoWriter();
        foreach (long v in values)
        {
            inner.Raw((ulong)v);
        }

        return Bytes(field, inner.ToArray());
    }

    private ProtoWriter Tag(int field, int wire) => Raw(((ulong)field << 3) | (uint)wire);

    private ProtoWriter Raw(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        _bytes.Add((byte)value);
        return this;
    }
}

public sealed class When_an_onnx_file_is_read
{
    /// <summary>ir_version 7; graph "g": one Conv node with ints/float/string attributes, a packed float_data and a raw_data initializer.</summary>
    internal static byte[] Tiny(Func<ProtoWriter, ProtoWriter>? extraTensor = null)
    {
        var node = new ProtoWriter().String(1, "x").String(1, "w").String(2, "y").String(3, "conv0").String(4, "Conv")
            .Message(5, new ProtoWriter().String(1, "pads").PackedVarints(8, 1, 1, 0, 0))
            .Message(5, new ProtoWriter().String(1, "strides").Varint(8, 2).Varint(8, 2))
            .Message(5, new ProtoWriter().String(1, "epsilon").Fixed32(2, 1e-5f))
            .Message(5, new ProtoWriter().String(1, "auto_pad").String(4, "NOTSET"));
        var w = new ProtoWriter().PackedVarints(1, 2, 1, 1, 2).Varint(2, 1).PackedFloats(4, 1, 2, 3, 4).String(8, "w");
        byte[] raw = new byte[12];
        BinaryPrimitives.WriteSingleLittleEndian(raw, -1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4), 0.25f);
        BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(8), 1e9f);
        var b = new ProtoWriter().Varint(1, 3).Varint(2, 1).String(8, "b").Bytes(9, raw);
        var graph = new ProtoWriter().Message(1, node).String(2, "g").Message(5, w).Message(5, b)
            .Message(11, new ProtoWriter().String(1, "x")).Message(12, new ProtoWriter().String(1, "y"));
        if (extraTensor is not null)
        {
            graph.Message(5, extraTensor(new ProtoWriter()));
        }

        return new ProtoWriter().Varint(1, 7).String(2, "test").Message(7, graph).ToArray();
    }

    [Fact]
    public void A_hand_built_model_gives_its_initializers_nodes_and_attributes()
    {
        OnnxModel model = OnnxModel.Parse(Tiny());
        Assert.Equal(7, model.IrVersion);
        Assert.Equal("g", model.GraphName);
        Assert.Equal(["x"], model.Inputs);
        Assert.Equal(["y"], model.Outputs);
        Assert.Equal([2L, 1, 1, 2], model.Initializer("w").Dims);
        Assert.Equal([1f, 2, 3, 4], model.Initializer("w").Data);
        Assert.Equal([3L], model.Initializer("b").Dims);
        Assert.Equal([-1.5f, 0.25f, 1e9f], model.Initializer("b").Data);
        OnnxNode conv = Assert.Single(model.Nodes);
        Assert.Equal("Conv", conv.OpType);
        Assert.Equal(["x", "w"], conv.Inputs);
        Assert.Equal([1L, 1, 0, 0], conv.Ints("pads"));
        Assert.Equal([2L, 2], conv.Ints("strides"));                                  // unpacked repeated ints
        Assert.Equal(1e-5f, conv.FloatValue("epsilon", 0));
        Assert.Equal("NOTSET", conv.Attributes["auto_pad"].S);
        Assert.Throws<OnnxFormatException>(() => model.Initializer("nope"));
    }

    [Fact]
    public void Every_truncation_of_the_file_fails_with_a_clear_error()
    {
        byte[] bytes = Tiny();
        for (int cut = 1; cut < bytes.Length; cut++)
        {
            OnnxFormatException e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(bytes.AsSpan(0, cut), "cut.onnx"));
            Assert.StartsWith("cut.onnx: ", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("this is a text file, not a model\n")]
    [InlineData("")]
    public void Text_and_empty_files_are_not_models(string text)
    {
        OnnxFormatException e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(System.Text.Encoding.UTF8.GetBytes(text), "x.onnx"));
        Assert.Contains("ONNX", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_bytes_are_refused()
    {
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            byte[] garbage = new byte[random.Next(1, 300)];
            random.NextBytes(garbage);
            Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(garbage, "garbage.onnx"));
        }
    }

    [Fact]
    public void Inconsistent_or_unsupported_tensors_are_named()
    {
        string Message(Func<ProtoWriter, ProtoWriter> tensor) => Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Tiny(tensor), "m.onnx")).Message;

        Assert.Contains("'short' has 3 float_data values; dims [2, 2] need 4", Message(t => t.PackedVarints(1, 2, 2).Varint(2, 1).PackedFloats(4, 1, 2, 3).String(8, "short")), StringComparison.Ordinal);
        Assert.Contains("'raw' has 5 bytes of raw_data", Message(t => t.Varint(1, 1).Varint(2, 1).String(8, "raw").Bytes(9, new byte[5])), StringComparison.Ordinal);
        Assert.Contains("'i64' has data_type 7; only FLOAT (1)", Message(t => t.Varint(1, 1).Varint(2, 7).String(8, "i64").Bytes(9, new byte[8])), StringComparison.Ordinal);
        Assert.Contains("'w' appears twice", Message(t => t.Varint(1, 1).Varint(2, 1).String(8, "w").PackedFloats(4, 1)), StringComparison.Ordinal);
        Assert.Contains("external file", Message(t => t.Varint(1, 1).Varint(2, 1).String(8, "ext").Varint(14, 1)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_a_graph_is_refused()
    {
        byte[] noGraph = new ProtoWriter().Varint(1, 7).String(2, "producer").ToArray();
        Assert.Contains("has no graph", Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(noGraph)).Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", Assert.Throws<OnnxFormatException>(() => OnnxModel.Read("/nonexistent/ResNet18.onnx")).Message, StringComparison.Ordinal);
    }
}

public sealed class When_the_ML_NET_ResNet18_package_file_is_read
{
    /// <summary>Restored by the test project's PackageDownload; a missing file fails the test (it is not skipped).</summary>
    internal static string OnnxPath
    {
        get
        {
            string path = ResNet18OnnxImport.DefaultOnnxPath();
            Assert.True(File.Exists(path), $"{path} is missing: restore tests/Vision.Tests (PackageDownload of Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1).");
            return path;
        }
    }

    private static readonly Lazy<OnnxModel> Model = new(() => OnnxModel.Read(OnnxPath));

    internal static OnnxModel ResNet18 => Model.Value;

    [Fact]
    public void It_is_the_CNTK_ResNet18_featurizer_with_batch_norm_nodes_and_a_512_feature_output()
    {
        OnnxModel model = ResNet18;
        Assert.Equal(110, model.Initializers.Count);                                   // 22 conv weights + 22 × (scale, bias, mean, var)
        Assert.Equal(22, model.Nodes.Count(n => n.OpType == "Conv"));                  // CNTK's ResNet18: three blocks in layer4
        Assert.Equal(22, model.Nodes.Count(n => n.OpType == "BatchNormalization"));   // not folded into the convolutions
        Assert.Equal("AveragePool", model.Nodes[^1].OpType);                           // global pool, no classifier
        Assert.Equal(model.Outputs, model.Nodes[^1].Outputs);
        Assert.Equal([64L, 3, 7, 7], model.Nodes.First(n => n.OpType == "Conv").Inputs.Skip(1).Select(model.Initializer).Single().Dims);
        float[] variance = model.Initializer(model.Nodes.First(n => n.OpType == "BatchNormalization").Inputs[4]).Data;
        Assert.All(variance, v => Assert.True(v > 0 && float.IsFinite(v)));

        IReadOnlyDictionary<string, OnnxTensor> weights = ResNet18OnnxImport.StateDict(model, 3);
        Assert.Equal(1 + 4 + (6 * 10) + (2 * 5), weights.Count);                      // conv1, bn1 ×4, 6 blocks × (2 conv + 2 bn ×4), 2 downsamples × 5
        Assert.Equal(2_782_784, weights.Values.Where(w => !w.Name.Contains("running", StringComparison.Ordinal)).Sum(w => w.ElementCount));   // torchvision resnet18 up to layer3
    }

    [Fact]
    public void The_preprocess_graph_swaps_to_BGR_and_subtracts_the_mean_image_whose_channel_means_the_tower_uses()
    {
        OnnxModel prep = OnnxModel.Read(ResNet18OnnxImport.DefaultPreprocessPath());
        Assert.Equal(["Split", "Concat", "Sub"], prep.Nodes.Select(n => n.OpType));
        Assert.Equal(["BInp", "GInp", "RInp"], prep.Nodes[1].Inputs);
        OnnxTensor mean = prep.Initializer("MeanImage");
        Assert.Equal([1L, 3, 224, 224], mean.Dims);
        const int Plane = 224 * 224;
        for (int c = 0; c < 3; c++)
        {
            double channelMean = mean.Data.Skip(c * Plane).Take(Plane).Average(x => (double)x);      // B, G, R
            Assert.Equal(ResNet18VisionConfig.MlNetMeanRgb[2 - c], channelMean, 3);
        }
    }
}
