using TorchSharp;
using VideoLong.Language.Generation;
using static TorchSharp.torch;

namespace VideoLong.Language.Models.Qwen2;

/// <summary>
/// Preallocated key/value cache of a Qwen2 decoder: per layer one key and one value buffer
/// [B, num_key_value_heads, capacity, head_dim], allocated once; appending copies into the next free slots and never
/// reallocates. Each layer keeps its own length (equal for plain decoding; video-level token dropping, ALGORITHMS.md
/// §1.4, shortens the layers after a drop stage). The buffers live outside any dispose scope; dispose the cache to free them.
/// </summary>
public sealed class Qwen2KvCache : IKeyValueCache
{
    private readonly Tensor[] _keys;     // per layer [B, kvHeads, capacity, headDim]
    private readonly Tensor[] _values;   // per layer [B, kvHeads, capacity, headDim]
    private readonly int[] _lengths;
    private bool _disposed;

    public Qwen2KvCache(Qwen2Config config, int batchSize, int capacity, ScalarType dtype, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        BatchSize = batchSize;
        Capacity = capacity;
        DType = dtype;
        _keys = new Tensor[config.NumHiddenLayers];
        _values = new Tensor[config.NumHiddenLayers];
        _lengths = new int[config.NumHiddenLayers];
        long[] shape = [batchSize, config.NumKeyValueHeads, capacity, config.HeadDim];
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            _keys[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
            _values[i] = zeros(shape, dtype, device).DetachFromDisposeScope();
        }
    }

    public int BatchSize { get; }

    public int Capacity { get; }

    public int Layers => _lengths.Length;

    public ScalarType DType { get; }

    /// <summary>Positions held by the first layer.</summary>
    public int Length => _lengths[0];

    /// <summary>Positions held by <paramref name="layer"/>.</summary>
    public int LayerLength(int layer) => _lengths[layer];

    /// <summary>
    /// Writes <paramref name="keys"/> and <paramref name="values"/> ([B, kvHeads, L, headDim]) into the next L slots of
    /// <paramref name="layer"/> and returns views of everything held, [B, kvHeads, length + L, headDim].
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        Tensor buffer = _keys[layer];
        if (keys.ndim != 4 || keys.shape[0] != buffer.shape[0] || keys.shape[1] != buffer.shape[1] || keys.shape[3] != buffer.shape[3]
            || !keys.shape.SequenceEqual(values.shape))
        {
            throw new ArgumentException(
                $"Keys [{string.Join(", ", keys.shape)}] and values [{string.Join(", ", values.shape)}] do not fit a cache of [{string.Join(", ", buffer.shape)}].",
                nameof(keys));
        }

        int start = _lengths[layer];
        int count = (int)keys.shape[2];
        if (start + count > Capacity)
        {
            throw new VideoLongException(
                $"The KV cache holds {start} of {Capacity} positions and cannot take {count} more. Hint: allocate prompt length + max new tokens.");
        }

        using (no_grad())
        {
            using Tensor keySlots = _keys[layer].narrow(2, start, count);       // [B, kvHeads, L, headDim]
            using Tensor valueSlots = _values[layer].narrow(2, start, count);   // [B, kvHeads, L, headDim]
            keySlots.copy_(keys);
            valueSlots.copy_(values);
        }

        _lengths[layer] = start + count;
        return (_keys[layer].narrow(2, 0, start + count), _values[layer].narrow(2, 0, start + count));
    }

    /// <summary>
    /// The video-level token dropping of the prefill that filled this cache, or null: layers after a drop stage hold
    /// fewer positions than <see cref="Length"/>, and later steps shift their positions and masks to match.
    /// </summary>
    public VideoTokenDropping? VideoTokenDropping { get; internal set; }

    /// <summary>Empties the cache (the buffers stay allocated) and forgets any token dropping.</summary>
    public void Reset()
    {
        Array.Clear(_lengths);
        VideoTokenDropping = null;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Tensor t in _keys.Concat(_values))
        {
            t.Dispose();
        }
    }
}
