// The sequence-parallel Qwen2 as an ICausalLanguageModel, so the ordinary TokenGenerator (greedy or sampled, stop
// tokens, streaming) drives it: the prompt's pass is the sharded prefill with a distributed KV cache, every later step
// a SequenceParallelDecoding step. Prompts are not left-padded (one sequence, or sequences of equal length).
using VideoLong.Language.Generation;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>A <see cref="SequenceParallelQwen2"/> behind <see cref="ICausalLanguageModel"/>.</summary>
public sealed class SequenceParallelLanguageModel(SequenceParallelQwen2 parallel, RingAttentionOptions? options = null) : ICausalLanguageModel
{
    public SequenceParallelQwen2 Parallel { get; } = parallel ?? throw new ArgumentNullException(nameof(parallel));

    /// <summary>The first rank's device: prompts and token ids are put there.</summary>
    public Device Device => Parallel.Devices[0];

    public IKeyValueCache CreateCache(int batchSize, int capacity) => new SequenceParallelKvCache(batchSize, capacity);

    public Tensor NextTokenLogits(Tensor? inputIds, Tensor? inputsEmbeds, Tensor attentionMask, Tensor positionIds, IKeyValueCache cache)
    {
        ArgumentNullException.ThrowIfNull(attentionMask);
        ArgumentNullException.ThrowIfNull(positionIds);
        if (cache is not SequenceParallelKvCache c)
        {
            throw new ArgumentException("The cache must come from this model's CreateCache.", nameof(cache));
        }

        if ((inputIds is null) == (inputsEmbeds is null))
        {
            throw new ArgumentException("Give exactly one of inputIds and inputsEmbeds.");
        }

        if (attentionMask.min().item<long>() == 0)
        {
            throw new SequenceParallelException("Sequence-parallel generation takes prompts without left padding (one sequence, or sequences of equal length).");
        }

        // No dispose scope here: the prefill's tensors (hidden states, KV cache) must outlive this call.
        Tensor? ownEmbeds = null;
        try
        {
            Tensor embeds = inputsEmbeds ?? (ownEmbeds = Parallel.Replica(0).EmbedTokens(inputIds!.to(Device)));   // [B, L, H]
            long length = embeds.shape[1];
            if (c.Length + length > c.Capacity)
            {
                throw new SequenceParallelException($"The cache holds {c.Capacity} positions; {c.Length} are used and {length} more were given.");
            }

            Tensor logits;
            if (c.Decoding is null)
            {
                SequenceParallelPrefill prefill = Parallel.Prefill(embeds, positionIds, options, keepKvCache: true);
                c.Start(prefill, Parallel.StartDecoding(prefill));
                logits = prefill.LastLogits.clone();
            }
            else
            {
                if (length != 1)
                {
                    throw new SequenceParallelException($"After the prompt, sequence-parallel generation takes one token per step, got {length}.");
                }

                logits = c.Decoding.Step(embeds, positionIds);
            }

            c.Length += (int)length;
            return logits;
        }
        finally
        {
            ownEmbeds?.Dispose();
        }
    }

    /// <summary>The prefill (with its distributed KV cache) and the decoding state of one generation.</summary>
    private sealed class SequenceParallelKvCache(int batchSize, int capacity) : IKeyValueCache
    {
        private SequenceParallelPrefill? _prefill;

        public int BatchSize { get; } = batchSize;

        public int Capacity { get; } = capacity;

        public int Length { get; set; }

        public SequenceParallelDecoding? Decoding { get; private set; }

        public void Start(SequenceParallelPrefill prefill, SequenceParallelDecoding decoding)
        {
            // The cache owns the prefill's tensors from here on: a dispose scope the caller has open must not free them.
            foreach (Tensor t in prefill.Hidden.Concat([prefill.LastLogits, prefill.LastPositions])
                .Concat(prefill.KvCache?.SelectMany(l => l).SelectMany(kv => new[] { kv.K, kv.V }) ?? []))
            {
                t.DetachFromDisposeScope();
            }

            (_prefill, Decoding) = (prefill, decoding);
        }

        public void Dispose()
        {
            Decoding?.Dispose();
            _prefill?.Dispose();
        }
    }
}
