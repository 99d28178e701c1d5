using TorchSharp;
using VideoLong.Vision.Weights;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>
/// Visual tokens as one artifact (kind <see cref="ArtifactKinds.VisualTokens"/>): a safetensors file holding one
/// matrix <c>visual_tokens</c> [N, H] in F32 or BF16, read back with <see cref="SafetensorsCheckpoint"/>.
/// </summary>
public static class VisualTokensArtifact
{
    public const string TensorName = "visual_tokens";
    public const string FormatName = "videolong.visual-tokens";

    /// <summary>Writes <paramref name="values"/> (row-major [tokens, hidden]) as <paramref name="dtype"/> (F32 or BF16).</summary>
    public static Task WriteAsync(Stream destination, ReadOnlyMemory<float> values, int tokens, int hidden, TensorDtype dtype, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegative(hidden);
        if ((long)tokens * hidden != values.Length)
        {
            throw new ArgumentException($"{values.Length} values do not fill [{tokens}, {hidden}] ({(long)tokens * hidden} expected).", nameof(values));
        }

        if (dtype is not (TensorDtype.F32 or TensorDtype.BF16))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Visual tokens are stored as F32 or BF16.");
        }

        var metadata = new Dictionary<string, string> { ["format"] = FormatName, ["version"] = "1" };
        SafetensorsTensor[] tensors = [new(TensorName, dtype, [tokens, hidden], (stream, ct) => SafetensorsWriter.WriteFloatsAsync(stream, values, dtype, ct))];
        return SafetensorsWriter.WriteAsync(destination, tensors, metadata, cancellationToken);
    }

    /// <summary>Writes a [N, H] tensor of any floating type and device (copied to CPU float32 first).</summary>
    public static Task WriteAsync(Stream destination, torch.Tensor tokens, TensorDtype dtype, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.dim() != 2)
        {
            throw new ArgumentException($"Visual tokens must be [N, H]; got [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        }

        using torch.Tensor cpu = tokens.detach().to(torch.ScalarType.Float32, torch.CPU).contiguous();
        float[] values = cpu.data<float>().ToArray();
        return WriteAsync(destination, values, (int)tokens.shape[0], (int)tokens.shape[1], dtype, cancellationToken);
    }

    /// <summary>Loads the [N, H] matrix from a file (as stored, or converted to <paramref name="dtype"/>).</summary>
    public static torch.Tensor Load(string path, torch.ScalarType? dtype = null)
    {
        using SafetensorsCheckpoint file = SafetensorsCheckpoint.Open(path);
        TensorEntry entry = file.Entry(TensorName);
        if (entry.Shape.Length != 2)
        {
            throw new VideoLongException($"'{path}' holds '{TensorName}' of shape [{string.Join(", ", entry.Shape)}]; [N, H] expected.");
        }

        return file.Load(TensorName, dtype);
    }

    public static Task<ArtifactInfo> PutAsync(ArtifactCache cache, ArtifactKey key, ReadOnlyMemory<float> values, int tokens, int hidden, TensorDtype dtype, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return cache.PutAsync(key, ArtifactKinds.VisualTokens, (stream, ct) => WriteAsync(stream, values, tokens, hidden, dtype, ct), cancellationToken);
    }

    /// <summary>The tokens stored under <paramref name="key"/>, or null when absent (or found damaged).</summary>
    public static async Task<torch.Tensor?> TryLoadAsync(ArtifactCache cache, ArtifactKey key, torch.ScalarType? dtype, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        await using ArtifactLease? lease = await cache.TryGetAsync(key, cancellationToken);
        return lease is null ? null : Load(lease.Path, dtype);
    }
}
