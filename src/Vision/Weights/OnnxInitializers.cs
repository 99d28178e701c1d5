// A minimal, bounded reader of ONNX model files (protobuf wire format, decoded by hand): the graph's initializers (float
// tensors), its nodes with their attributes, and the names of its inputs and outputs. Enough to import the weights of a
// CNN such as the ResNet18 that ships in Microsoft.ML.DnnImageFeaturizer.ResNet18 into a TorchSharp module; it does not
// run graphs. Field numbers follow onnx/onnx.proto (IR version 3+):
//   ModelProto   1 ir_version, 7 graph
//   GraphProto   1 node, 2 name, 5 initializer, 11 input, 12 output
//   NodeProto    1 input, 2 output, 3 name, 4 op_type, 5 attribute
//   AttributeProto 1 name, 2 f, 3 i, 4 s, 7 floats, 8 ints
//   TensorProto  1 dims, 2 data_type, 4 float_data, 8 name, 9 raw_data, 13 external_data
//   ValueInfoProto 1 name
using System.Buffers.Binary;
using System.Text;

namespace VideoLong.Vision.Weights;

/// <summary>An ONNX file cannot be read: truncated, not protobuf, not a model, or a tensor this reader does not take.</summary>
public sealed class OnnxFormatException(string file, string message) : VideoLongException($"{file}: {message}")
{
    /// <summary>The file (or description) that failed.</summary>
    public string File { get; } = file;
}

/// <summary>A float initializer: its name, dims and values (row-major).</summary>
public sealed record OnnxTensor(string Name, long[] Dims, float[] Data)
{
    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);
}

/// <summary>A node attribute: one of a float, an int, a string, a float list or an int list.</summary>
public sealed record OnnxAttribute(string Name, float? F, long? I, string? S, float[] Floats, long[] Ints);

/// <summary>A graph node: operator, inputs, outputs and attributes by name.</summary>
public sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, OnnxAttribute> Attributes)
{
    /// <summary>The ints of attribute <paramref name="name"/>, or <paramref name="fallback"/> when it is absent.</summary>
    public long[] Ints(string name, params long[] fallback) => Attributes.TryGetValue(name, out OnnxAttribute? a) && a.Ints.Length > 0 ? a.Ints : fallback;

    public float FloatValue(string name, float fallback) => Attributes.TryGetValue(name, out OnnxAttribute? a) && a.F is { } f ? f : fallback;
}

/// <summary>The parts of an ONNX model this project reads: initializers, nodes (in graph order), input and output names.</summary>
public sealed class OnnxModel
{
    /// <summary>Files larger than this are refused (the ResNet18 featurizer is 64 MB).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>Tensors with more elements than this are refused.</summary>
    public const long MaxTensorElements = 1L << 28;

    /// <summary>Tensors with more dimensions than this are refused.</summary>
    public const int MaxRank = 8;

    private OnnxModel(long irVersion, string graphName, Dictionary<string, OnnxTensor> initializers, List<OnnxNode> nodes, List<string> inputs, List<string> outputs)
    {
        IrVersion = irVersion;
        GraphName = graphName;
        Initializers = initializers;
        Nodes = nodes;
        Inputs = inputs;
        Outputs = outputs;
    }

    public long IrVersion { get; private set; }

    public string GraphName { get; }

    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>Graph inputs (ONNX lists initializers among them in old IR versions).</summary>
    public IReadOnlyList<string> Inputs { get; }

    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The initializer called <paramref name="name"/>; a clear error when the file has none of that name.</summary>
    public OnnxTensor Initializer(string name) => Initializers.TryGetValue(name, out OnnxTensor? t)
        ? t
        : throw new OnnxFormatException(GraphName, $"the graph has no initializer '{name}' (it has {Initializers.Count}).");

    /// <summary>The same model with other nodes (e.g. to check what an importer does with a changed graph).</summary>
    public OnnxModel WithNodes(IEnumerable<OnnxNode> nodes) =>
        new(IrVersion, GraphName, new Dictionary<string, OnnxTensor>(Initializers), [.. nodes], [.. Inputs], [.. Outputs]);

    /// <summary>Reads an ONNX file.</summary>
    public static OnnxModel Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!System.IO.File.Exists(path))
        {
            throw new OnnxFormatException(path, "the file does not exist (an ONNX model, e.g. ResNet18.onnx from the Microsoft.ML.DnnImageFeaturizer.ResNet18 package).");
        }

        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes)
        {
            throw new OnnxFormatException(path, $"the file has {length} bytes; at most {MaxFileBytes} are read.");
        }

        return Parse(System.IO.File.ReadAllBytes(path), path);
    }

    /// <summary>Parses the bytes of an ONNX model; <paramref name="source"/> names it in errors.</summary>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes, string source = "ONNX model")
    {
        long irVersion = -1;
        int graphs = 0;
        OnnxModel? graph = null;
        var reader = new ProtoReader(bytes, source, "ModelProto");
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 0)
            {
                irVersion = (long)reader.Varint();
            }
            else if (field == 7 && wire == 2)
            {
                graphs++;
                graph = ParseGraph(reader.Bytes(), source);
            }
            else
            {
                reader.Skip(wire);
            }
        }

        if (graphs != 1 || graph is null)
        {
            throw new OnnxFormatException(source, graphs == 0
                ? "not an ONNX model: the ModelProto has no graph (field 7)."
                : $"not an ONNX model: the ModelProto has {graphs} graphs, expected one.");
        }

        if (irVersion < 1)
        {
            throw new OnnxFormatException(source, "not an ONNX model: ir_version (field 1) is missing or not positive.");
        }

        graph.IrVersion = irVersion;
        return graph;
    }

    private static OnnxModel ParseGraph(ReadOnlySpan<byte> bytes, string source)
    {
        string name = "";
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var nodes = new List<OnnxNode>();
        var inputs = new List<string>();
        var outputs = new List<string>();
        var reader = new ProtoReader(bytes, source, "GraphProto");
        while (reader.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2):
                    nodes.Add(ParseNode(reader.Bytes(), source));
                    break;
                case (2, 2):
                    name = reader.String();
                    break;
                case (5, 2):
                    OnnxTensor tensor = ParseTensor(reader.Bytes(), source);
                    if (!initializers.TryAdd(tensor.Name, tensor))
                    {
                        throw new OnnxFormatException(source, $"initializer '{tensor.Name}' appears twice.");
                    }

                    break;
                case (11, 2):
                    inputs.Add(ValueInfoName(reader.Bytes(), source));
                    break;
                case (12, 2):
                    outputs.Add(ValueInfoName(reader.Bytes(), source));
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        return new OnnxModel(0, name, initializers, nodes, inputs, outputs);
    }

    private static string ValueInfoName(ReadOnlySpan<byte> bytes, string source)
    {
        string name = "";
        var reader = new ProtoReader(bytes, source, "ValueInfoProto");
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2)
            {
                name = reader.String();
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return name;
    }

    private static OnnxNode ParseNode(ReadOnlySpan<byte> bytes, string source)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        string name = "", op = "";
        var reader = new ProtoReader(bytes, source, "NodeProto");
        while (reader.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2): inputs.Add(reader.String()); break;
                case (2, 2): outputs.Add(reader.String()); break;
                case (3, 2): name = reader.String(); break;
                case (4, 2): op = reader.String(); break;
                case (5, 2):
                    OnnxAttribute a = ParseAttribute(reader.Bytes(), source);
                    attributes[a.Name] = a;
                    break;
                default: reader.Skip(wire); break;
            }
        }

        if (op.Length == 0)
        {
            throw new OnnxFormatException(source, $"node '{name}' has no op_type.");
        }

        return new OnnxNode(op, name, inputs, outputs, attributes);
    }

    private static OnnxAttribute ParseAttribute(ReadOnlySpan<byte> bytes, string source)
    {
        string name = "";
        float? f = null;
        long? i = null;
        string? s = null;
        var floats = new List<float>();
        var ints = new List<long>();
        var reader = new ProtoReader(bytes, source, "AttributeProto");
        while (reader.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2): name = reader.String(); break;
                case (2, 5): f = reader.Fixed32Float(); break;
                case (3, 0): i = (long)reader.Varint(); break;
                case (4, 2): s = reader.String(); break;
                case (7, 5): floats.Add(reader.Fixed32Float()); break;
                case (7, 2): reader.PackedFloats(floats); break;
                case (8, 0): ints.Add((long)reader.Varint()); break;
                case (8, 2): reader.PackedVarints(ints); break;
                default: reader.Skip(wire); break;
            }
        }

        return new OnnxAttribute(name, f, i, s, floats.ToArray(), ints.ToArray());
    }

    private static OnnxTensor ParseTensor(ReadOnlySpan<byte> bytes, string source)
    {
        var dims = new List<long>();
        long dataType = 0;
        string name = "";
        var floats = new List<float>();
        bool hasFloats = false;
        ReadOnlySpan<byte> raw = default;
        bool hasRaw = false, external = false;
        var reader = new ProtoReader(bytes, source, "TensorProto");
        while (reader.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 0): dims.Add((long)reader.Varint()); break;
                case (1, 2): reader.PackedVarints(dims); break;
                case (2, 0): dataType = (long)reader.Varint(); break;
                case (4, 5): hasFloats = true; floats.Add(reader.Fixed32Float()); break;
                case (4, 2): hasFloats = true; reader.PackedFloats(floats); break;
                case (8, 2): name = reader.String(); break;
                case (9, 2): hasRaw = true; raw = reader.Bytes(); break;
                case (13, 2): external = true; reader.Skip(wire); break;
                case (14, 0): external |= reader.Varint() == 1; break;
                default: reader.Skip(wire); break;
            }

            if (floats.Count > MaxTensorElements)
            {
                throw new OnnxFormatException(source, $"initializer '{name}' holds more than {MaxTensorElements} values.");
            }
        }

        string what = $"initializer '{name}'";
        if (external)
        {
            throw new OnnxFormatException(source, $"{what} keeps its data in an external file; only tensors stored inside the model are read.");
        }

        if (dataType != 1)
        {
            throw new OnnxFormatException(source, $"{what} has data_type {dataType}; only FLOAT (1) initializers are read.");
        }

        if (dims.Count > MaxRank || dims.Any(d => d < 0 || d > MaxTensorElements))
        {
            throw new OnnxFormatException(source, $"{what} has dims [{string.Join(", ", dims)}]; at most {MaxRank} non-negative dims are accepted.");
        }

        long count = 1;
        foreach (long d in dims)
        {
            count *= d;
            if (count > MaxTensorElements)
            {
                throw new OnnxFormatException(source, $"{what} has dims [{string.Join(", ", dims)}]: more than {MaxTensorElements} elements.");
            }
        }

        float[] data;
        if (hasRaw && hasFloats)
        {
            throw new OnnxFormatException(source, $"{what} has both raw_data and float_data.");
        }
        else if (hasRaw)
        {
            if (raw.Length != count * 4)
            {
                throw new OnnxFormatException(source, $"{what} has {raw.Length} bytes of raw_data; dims [{string.Join(", ", dims)}] need {count * 4}.");
            }

            data = new float[count];
            for (int k = 0; k < data.Length; k++)
            {
                data[k] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(k * 4, 4));
            }
        }
        else
        {
            if (floats.Count != count)
            {
                throw new OnnxFormatException(source, $"{what} has {floats.Count} float_data values; dims [{string.Join(", ", dims)}] need {count}.");
            }

            data = floats.ToArray();
        }

        return new OnnxTensor(name, dims.ToArray(), data);
    }

    /// <summary>A protobuf message reader over a span: tags, varints, fixed32, length-delimited fields; every read is bounds-checked.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data, string source, string message)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_position >= _data.Length)
            {
                return false;
            }

            ulong tag = Varint();
            wire = (int)(tag & 7);
            ulong number = tag >> 3;
            if (number == 0 || number > (1u << 29) - 1)
            {
                throw Fail($"invalid field number {number}");
            }

            if (wire is 3 or 4 or 6 or 7)
            {
                throw Fail($"unsupported wire type {wire} (field {number})");
            }

            field = (int)number;
            return true;
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (_position >= _data.Length)
                {
                    throw Fail("truncated varint");
                }

                byte b = _data[_position++];
                if (shift == 63 && b > 1)
                {
                    throw Fail("varint longer than 64 bits");
                }

                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }

            throw Fail("varint longer than 10 bytes");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(_data.Length - _position))
            {
                throw Fail($"a length-delimited field claims {length} bytes, only {_data.Length - _position} remain (truncated file?)");
            }

            ReadOnlySpan<byte> slice = _data.Slice(_position, (int)length);
            _position += (int)length;
            return slice;
        }

        public string String()
        {
            ReadOnlySpan<byte> bytes = Bytes();
            try
            {
                return new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Fail("a string field is not valid UTF-8");
            }
        }

        public float Fixed32Float()
        {
            if (_data.Length - _position < 4)
            {
                throw Fail("truncated 32-bit value");
            }

            float value = BinaryPrimitives.ReadSingleLittleEndian(_data.Slice(_position, 4));
            _position += 4;
            return value;
        }

        public void PackedFloats(List<float> into)
        {
            ReadOnlySpan<byte> bytes = Bytes();
            if (bytes.Length % 4 != 0)
            {
                throw Fail($"packed floats of {bytes.Length} bytes (not a multiple of 4)");
            }

            if (into.Count + (bytes.Length / 4) > MaxTensorElements)
            {
                throw Fail($"more than {MaxTensorElements} packed floats");
            }

            into.EnsureCapacity(into.Count + (bytes.Length / 4));
            for (int k = 0; k < bytes.Length; k += 4)
            {
                into.Add(BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(k, 4)));
            }
        }

        public void PackedVarints(List<long> into)
        {
            var inner = new ProtoReader(Bytes(), source, message);
            while (inner._position < inner._data.Length)
            {
                into.Add((long)inner.Varint());
            }
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(); break;
                case 5: Advance(4); break;
                default: throw Fail($"unsupported wire type {wire}");
            }
        }

        private void Advance(int count)
        {
            if (_data.Length - _position < count)
            {
                throw Fail($"truncated {count * 8}-bit value");
            }

            _position += count;
        }

        private readonly OnnxFormatException Fail(string what) =>
            new(source, $"not a valid ONNX file: {what} in a {message} at byte {_position} of {_data.Length}. Expected an ONNX model (protobuf ModelProto).");
    }
}
