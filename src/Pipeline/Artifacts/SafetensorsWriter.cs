using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using VideoLong.Vision.Weights;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>Element types the artifact writers store (safetensors spelling in <see cref="SafetensorsWriter.DtypeName"/>).</summary>
public enum TensorDtype
{
    /// <summary>float32.</summary>
    F32,

    /// <summary>bfloat16 (the upper half of a float32, rounded to nearest even).</summary>
    BF16,

    /// <summary>float64.</summary>
    F64,

    /// <summary>unsigned byte.</summary>
    U8,
}

/// <summary>One tensor to write: its name, type, shape and a callback that writes exactly its bytes (little-endian, row-major).</summary>
public sealed record SafetensorsTensor(string Name, TensorDtype Dtype, long[] Shape, Func<Stream, CancellationToken, Task> WriteData)
{
    public long ByteLength => Shape.Aggregate(1L, (a, b) => a * b) * SafetensorsWriter.ElementSize(Dtype);
}

/// <summary>
/// A minimal safetensors writer (the format <c>VideoLong.Vision.Weights.SafetensorsCheckpoint</c> reads): 8-byte
/// little-endian header length, a JSON header padded with spaces to a multiple of 8, then each tensor's bytes in order.
/// Data streams straight to the destination; nothing is buffered whole.
/// </summary>
public static class SafetensorsWriter
{
    internal const long MaxHeaderBytes = 16L << 20;

    public static string DtypeName(TensorDtype dtype) => dtype switch
    {
        TensorDtype.F32 => "F32",
        TensorDtype.BF16 => "BF16",
        TensorDtype.F64 => "F64",
        TensorDtype.U8 => "U8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Supported: F32, BF16, F64, U8."),
    };

    public static int ElementSize(TensorDtype dtype) => dtype switch
    {
        TensorDtype.F32 => 4,
        TensorDtype.BF16 => 2,
        TensorDtype.F64 => 8,
        TensorDtype.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Supported: F32, BF16, F64, U8."),
    };

    public static async Task WriteAsync(Stream destination, IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(tensors);
        byte[] header = Header(tensors, metadata);
        byte[] length = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, header.Length);
        await destination.WriteAsync(length, cancellationToken);
        await destination.WriteAsync(header, cancellationToken);
        foreach (SafetensorsTensor tensor in tensors)
        {
            long start = destination.CanSeek ? destination.Position : -1;
            await tensor.WriteData(destination, cancellationToken);
            if (start >= 0 && destination.Position - start != tensor.ByteLength)
            {
                throw new InvalidOperationException($"Tensor '{tensor.Name}' wrote {destination.Position - start} bytes; its shape [{string.Join(", ", tensor.Shape)}] of {DtypeName(tensor.Dtype)} needs {tensor.ByteLength}.");
            }
        }
    }

    /// <summary>Writes float32 values as <paramref name="dtype"/> (F32, or BF16 rounded to nearest even), in chunks.</summary>
    public static async Task WriteFloatsAsync(Stream destination, ReadOnlyMemory<float> values, TensorDtype dtype, CancellationToken cancellationToken)
    {
        if (dtype is not (TensorDtype.F32 or TensorDtype.BF16))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Float values are written as F32 or BF16.");
        }

        const int ChunkElements = 1 << 16;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkElements * 4);
        try
        {
            for (int offset = 0; offset < values.Length; offset += ChunkElements)
            {
                ReadOnlySpan<float> chunk = values.Span.Slice(offset, Math.Min(ChunkElements, values.Length - offset));
                int bytes = Encode(chunk, dtype, buffer);
                await destination.WriteAsync(buffer.AsMemory(0, bytes), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>float32 → bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN), as PyTorch does.</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    private static int Encode(ReadOnlySpan<float> chunk, TensorDtype dtype, byte[] buffer)
    {
        if (dtype == TensorDtype.F32)
        {
            for (int i = 0; i < chunk.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), chunk[i]);
            }

            return chunk.Length * 4;
        }

        for (int i = 0; i < chunk.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(i * 2), ToBFloat16(chunk[i]));
        }

        return chunk.Length * 2;
    }

    private static byte[] Header(IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach ((string name, string value) in metadata)
                {
                    writer.WriteString(name, value);
                }

                writer.WriteEndObject();
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (SafetensorsTensor tensor in tensors)
            {
                if (string.IsNullOrEmpty(tensor.Name) || tensor.Name == "__metadata__" || !names.Add(tensor.Name) || tensor.Shape.Any(d => d < 0))
                {
                    throw new ArgumentException($"Invalid or repeated tensor '{tensor.Name}' (shape [{string.Join(", ", tensor.Shape)}]).", nameof(tensors));
                }

                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", DtypeName(tensor.Dtype));
                writer.WriteStartArray("shape");
                foreach (long d in tensor.Shape)
                {
                    writer.WriteNumberValue(d);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + tensor.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += tensor.ByteLength;
            }

            writer.WriteEndObject();
        }

        int padded = (int)((json.Length + 7) / 8 * 8);
        byte[] header = new byte[padded];
        json.ToArray().CopyTo(header, 0);
        header.AsSpan((int)json.Length).Fill((byte)' ');
        return header;
    }
}

/// <summary>The header of a safetensors stream, read without mapping the file (for streaming readers of artifacts).</summary>
internal sealed record SafetensorsHeader(IReadOnlyDictionary<string, TensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart)
{
    public static async Task<SafetensorsHeader> ReadAsync(Stream source, CancellationToken cancellationToken)
    {
        byte[] lengthBytes = new byte[8];
        await source.ReadExactlyAsync(lengthBytes, cancellationToken);
        long length = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (length is <= 1 or > SafetensorsWriter.MaxHeaderBytes)
        {
            throw new VideoLongException($"Not a safetensors stream: header length {length} (expected 2 to {SafetensorsWriter.MaxHeaderBytes} bytes).");
        }

        byte[] header = new byte[length];
        await source.ReadExactlyAsync(header, cancellationToken);
        (IReadOnlyDictionary<string, TensorEntry> tensors, IReadOnlyDictionary<string, string> metadata) =
            SafetensorsCheckpoint.ParseHeader(header, "safetensors stream", dataLength: null);
        return new SafetensorsHeader(tensors, metadata, 8 + length);
    }

    /// <summary>Skips forward (reading, so non-seekable streams work) to <paramref name="offset"/> bytes into the data.</summary>
    public async Task SkipToAsync(Stream source, long consumed, long offset, CancellationToken cancellationToken)
    {
        long skip = offset - consumed;
        if (skip < 0)
        {
            throw new VideoLongException("Safetensors tensors are out of the expected order.");
        }

        if (source.CanSeek)
        {
            source.Seek(DataStart + offset, SeekOrigin.Begin);
            return;
        }

        byte[] buffer = new byte[Math.Min(skip, 1 << 16)];
        while (skip > 0)
        {
            int read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(skip, buffer.Length)), cancellationToken);
            if (read == 0)
            {
                throw new EndOfStreamException("Safetensors data ended early.");
            }

            skip -= read;
        }
    }
}
