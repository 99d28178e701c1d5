using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;

namespace VideoLong.Language.Tests.Qwen2;

/// <summary>A minimal safetensors writer for tests: 8-byte header length, JSON header padded to 8 bytes, raw data.</summary>
internal static class SafetensorsWriter
{
    public static void Write(string file, IEnumerable<(string Name, torch.Tensor Tensor)> tensors)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach ((string name, torch.Tensor tensor) in tensors)
        {
            using torch.Tensor cpu = tensor.detach().cpu().contiguous();
            byte[] data = cpu.bytes.ToArray();
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = DtypeName(cpu.dtype),
                ["shape"] = cpu.shape,
                ["data_offsets"] = new[] { offset, offset + data.Length },
            };
            blobs.Add(data);
            offset += data.Length;
        }

        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using FileStream stream = File.Create(file);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, padded);
        stream.Write(length);
        stream.Write(json);
        for (int i = json.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }

        foreach (byte[] blob in blobs)
        {
            stream.Write(blob);
        }
    }

    private static string DtypeName(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float32 => "F32",
        torch.ScalarType.BFloat16 => "BF16",
        torch.ScalarType.Float16 => "F16",
        torch.ScalarType.Int64 => "I64",
        _ => throw new NotSupportedException(type.ToString()),
    };
}
