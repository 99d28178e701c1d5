using TorchSharp;

namespace VideoLong.Language.Generation;

/// <summary>
/// A decoder-only language model as the <see cref="TokenGenerator"/> drives it: one prefill over the prompt, then one
/// step per new token, both through a preallocated key/value cache.
/// </summary>
public interface ICausalLanguageModel
{
    /// <summary>The device the model's parameters live on; the generator puts its input tensors there.</summary>
    torch.Device Device { get; }

    /// <summary>A cache for <paramref name="batchSize"/> sequences of up to <paramref name="capacity"/> positions.</summary>
    IKeyValueCache CreateCache(int batchSize, int capacity);

    /// <summary>
    /// Runs the model over the next tokens of every sequence and appends them to <paramref name="cache"/>.
    /// Exactly one of <paramref name="inputIds"/> ([B, L] int64) and <paramref name="inputsEmbeds"/> ([B, L, H]) is set;
    /// <paramref name="attentionMask"/> is [B, cache length + L] of 0/1 (left padding);
    /// <paramref name="positionIds"/> is [B, L] float32 (fractional positions allowed, V2PE).
    /// Returns the logits of the last position, [B, V] float32.
    /// </summary>
    torch.Tensor NextTokenLogits(torch.Tensor? inputIds, torch.Tensor? inputsEmbeds, torch.Tensor attentionMask, torch.Tensor positionIds,
        IKeyValueCache cache);
}

/// <summary>Per-layer key/value buffers allocated once for a batch; disposing frees them.</summary>
public interface IKeyValueCache : IDisposable
{
    int BatchSize { get; }

    /// <summary>Positions each sequence can hold.</summary>
    int Capacity { get; }

    /// <summary>Positions held now (those of the first layer).</summary>
    int Length { get; }
}
