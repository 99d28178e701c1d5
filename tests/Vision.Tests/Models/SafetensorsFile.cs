using System.Text;
using System.Text.Json;
using TorchSharp;

namespace VideoLong.Vision.Tests.Models;

/// <summary>Writes tensors as a safetensors file (test checkpoints made from random modules), F32 only.</summary>
internal static class SafetensorsFile
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach ((string name, torch.Tensor tensor) in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            using torch.Tensor cpu = tensor.detach().to(torch.float32).cpu().contiguous();
            byte[] bytes = cpu.bytes.ToArray();
            header[name] = new { dtype = "F32", shape = cpu.shape, data_offsets = new[] { offset, offset + bytes.Length } };
            blobs.Add(bytes);
            offset += bytes.Length;
        }

        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using FileStream file = File.Create(path);
        file.Write(BitConverter.GetBytes((long)json.Length));
        file.Write(json);
        foreach (byte[] blob in blobs)
        {
            file.Write(blob);
        }
    }
}

/// <summary>A temporary folder for test checkpoints; deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "videolong-models-" + Guid.NewGuid().ToString("N")[..8]);

    public TempDir() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
