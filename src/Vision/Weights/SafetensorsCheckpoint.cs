using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;
using TorchSharp;

namespace VideoLong.Vision.Weights;

/// <summary>Name, element type (safetensors spelling: F32, BF16, F16, I64, …) and shape of one stored tensor.</summary>
public sealed record TensorEntry(string Name, string Dtype, long[] Shape, string File, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors checkpoint: one <c>*.safetensors</c> file, or a folder with <c>model.safetensors</c> or shards listed in
/// <c>model.safetensors.index.json</c>. Files are memory-mapped; a tensor is copied out only when it is loaded, straight
/// into the requested dtype and device. Format: 8-byte little-endian header length, a JSON header
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>), then the raw data.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;

    private readonly Dictionary<string, TensorEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (MemoryMappedFile Map, MemoryMappedViewAccessor View, long DataStart)> _files = new(StringComparer.Ordinal);

    private SafetensorsCheckpoint(string path) => Path = path;

    /// <summary>The file or folder that was opened.</summary>
    public string Path { get; }

    public IReadOnlyCollection<string> Names => _entries.Keys;

    public IReadOnlyDictionary<string, TensorEntry> Entries => _entries;

    /// <summary>Opens a file, or a folder holding <c>model.safetensors</c> or <c>model.safetensors.index.json</c>.</summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = System.IO.Path.GetFullPath(path);
        var checkpoint = new SafetensorsCheckpoint(full);
        try
        {
            if (Directory.Exists(full))
            {
                string index = System.IO.Path.Combine(full, "model.safetensors.index.json");
                string single = System.IO.Path.Combine(full, "model.safetensors");
                if (File.Exists(index))
                {
                    foreach (string shard in ReadIndex(index))
                    {
                        checkpoint.AddFile(System.IO.Path.Combine(full, shard));
                    }
                }
                else if (File.Exists(single))
                {
                    checkpoint.AddFile(single);
                }
                else
                {
                    throw new WeightLoadException(full, $"'{path}' holds neither model.safetensors nor model.safetensors.index.json.");
                }
            }
            else if (File.Exists(full))
            {
                checkpoint.AddFile(full);
            }
            else
            {
                throw new WeightLoadException(full, $"'{path}' does not exist.");
            }

            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>The entry for <paramref name="name"/>, or a <see cref="WeightLoadException"/> naming it.</summary>
    public TensorEntry Entry(string name) =>
        _entries.TryGetValue(name, out TensorEntry? entry) ? entry : throw new WeightLoadException(Path, $"'{Path}' has no tensor named '{name}'.");

    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Loads one tensor, converted to <paramref name="dtype"/> (default: as stored) on <paramref name="device"/> (default: CPU).</summary>
    public torch.Tensor Load(string name, torch.ScalarType? dtype = null, torch.Device? device = null)
    {
        TensorEntry entry = Entry(name);
        torch.ScalarType stored = ToScalarType(entry.Dtype, entry.Name);
        int elementSize = ElementSize(stored);
        long bytes = entry.End - entry.Begin;
        if (bytes != entry.ElementCount * elementSize)
        {
            throw new WeightLoadException(Path, $"Tensor '{name}' in '{entry.File}' has {bytes} bytes for shape [{string.Join(", ", entry.Shape)}] of {entry.Dtype}; expected {entry.ElementCount * elementSize}.");
        }

        if (bytes > int.MaxValue)
        {
            throw new WeightLoadException(Path, $"Tensor '{name}' is {bytes} bytes; single tensors above 2 GiB are not supported yet.");
        }

        (_, MemoryMappedViewAccessor view, long dataStart) = _files[entry.File];
        torch.Tensor cpu = torch.empty(entry.Shape, stored);
        if (bytes > 0)
        {
            unsafe
            {
                byte* basePointer = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
                try
                {
                    var source = new ReadOnlySpan<byte>(basePointer + view.PointerOffset + dataStart + entry.Begin, (int)bytes);
                    source.CopyTo(cpu.bytes);
                }
                finally
                {
                    view.SafeMemoryMappedViewHandle.ReleasePointer();
                }
            }
        }

        torch.Tensor result = cpu;
        if (dtype is { } d && d != stored)
        {
            result = cpu.to_type(d);
            cpu.Dispose();
        }

        if (device is not null && device.type != DeviceType.CPU)
        {
            torch.Tensor moved = result.to(device);
            result.Dispose();
            result = moved;
        }

        return result;
    }

    public void Dispose()
    {
        foreach ((MemoryMappedFile map, MemoryMappedViewAccessor view, _) in _files.Values)
        {
            view.Dispose();
            map.Dispose();
        }

        _files.Clear();
    }

    /// <summary>The TorchSharp element type of a safetensors dtype string.</summary>
    public static torch.ScalarType ToScalarType(string dtype, string name) => dtype switch
    {
        "F32" => torch.ScalarType.Float32,
        "F16" => torch.ScalarType.Float16,
        "BF16" => torch.ScalarType.BFloat16,
        "F64" => torch.ScalarType.Float64,
        "I64" => torch.ScalarType.Int64,
        "I32" => torch.ScalarType.Int32,
        "I16" => torch.ScalarType.Int16,
        "I8" => torch.ScalarType.Int8,
        "U8" => torch.ScalarType.Byte,
        "BOOL" => torch.ScalarType.Bool,
        _ => throw new WeightLoadException(name, $"Tensor '{name}' has dtype {dtype}; supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL."),
    };

    private static int ElementSize(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float64 or torch.ScalarType.Int64 => 8,
        torch.ScalarType.Float32 or torch.ScalarType.Int32 => 4,
        torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Int16 => 2,
        _ => 1,
    };

    private static SortedSet<string> ReadIndex(string index)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(index));
        if (!doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
        {
            throw new WeightLoadException(index, $"'{index}' has no weight_map object.");
        }

        var shards = new SortedSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty p in map.EnumerateObject())
        {
            string shard = p.Value.GetString() ?? "";
            if (shard.Length == 0 || shard.Contains('/', StringComparison.Ordinal) || shard.Contains("..", StringComparison.Ordinal))
            {
                throw new WeightLoadException(index, $"'{index}' names an invalid shard '{shard}' for '{p.Name}' (a file name in the same folder is expected).");
            }

            shards.Add(shard);
        }

        return shards;
    }

    private void AddFile(string file)
    {
        var info = new FileInfo(file);
        if (!info.Exists)
        {
            throw new WeightLoadException(file, $"Shard '{file}' does not exist.");
        }

        if (info.Length < 8)
        {
            throw new WeightLoadException(file, $"'{file}' is too short to be a safetensors file ({info.Length} bytes).");
        }

        var map = MemoryMappedFile.CreateFromFile(file, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            long headerLength = view.ReadInt64(0);
            if (headerLength <= 1 || headerLength > MaxHeaderBytes || 8 + headerLength > info.Length)
            {
                throw new WeightLoadException(file, $"'{file}' is not a safetensors file (header length {headerLength} for a file of {info.Length} bytes).");
            }

            byte[] header = new byte[headerLength];
            view.ReadArray(8, header, 0, header.Length);
            long dataStart = 8 + headerLength;
            long dataLength = info.Length - dataStart;
            (IReadOnlyDictionary<string, TensorEntry> tensors, _) = ParseHeader(header, file, dataLength);
            foreach ((string name, TensorEntry entry) in tensors)
            {
                if (!_entries.TryAdd(name, entry))
                {
                    throw new WeightLoadException(file, $"Tensor '{name}' appears in more than one shard.");
                }
            }

            _files[file] = (map, view, dataStart);
        }
        catch
        {
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Parses a safetensors JSON header (the bytes after the 8-byte length): every tensor's dtype, shape and data offsets,
    /// checked (offsets within <paramref name="dataLength"/> when it is known), and the <c>__metadata__</c> strings.
    /// Streaming readers of safetensors artifacts use it too.
    /// </summary>
    /// <exception cref="WeightLoadException">Malformed JSON, missing fields, or invalid offsets or shape.</exception>
    public static (IReadOnlyDictionary<string, TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata) ParseHeader(
        ReadOnlySpan<byte> header, string source, long? dataLength)
    {
        var tensors = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(header);
            using JsonDocument doc = JsonDocument.ParseValue(ref reader);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    foreach (JsonProperty m in p.Value.EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.GetString() ?? "";
                    }

                    continue;
                }

                JsonElement e = p.Value;
                string dtype = e.GetProperty("dtype").GetString() ?? "";
                long[] shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                long[] offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > (dataLength ?? long.MaxValue) || shape.Any(d => d < 0))
                {
                    throw new WeightLoadException(source, $"Tensor '{p.Name}' in '{source}' has invalid offsets [{string.Join(", ", offsets)}] or shape{(dataLength is { } n ? $" (data is {n} bytes)" : "")}.");
                }

                tensors[p.Name] = new TensorEntry(p.Name, dtype, shape, source, offsets[0], offsets[1]);
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new WeightLoadException(source, $"'{source}' has a malformed safetensors header: {e.Message}");
        }

        return (tensors, metadata);
    }
}
