using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Language.Generation;

/// <summary>
/// A prompt as tensors, for callers that prepare more than token ids (a VLM splices visual features into the
/// embeddings and gives fractional V2PE positions). The caller owns the tensors.
/// </summary>
public sealed class GenerationPrompt
{
    /// <summary>[B, L] int64. Exactly one of this and <see cref="InputsEmbeds"/> is set.</summary>
    public Tensor? InputIds { get; init; }

    /// <summary>[B, L, H] in the model dtype.</summary>
    public Tensor? InputsEmbeds { get; init; }

    /// <summary>[B, L] of 0/1 with padding on the left; null = no padding.</summary>
    public Tensor? AttentionMask { get; init; }

    /// <summary>[B, L] float32 (fractional allowed); null = cumsum(mask) − 1 as transformers. New tokens continue at last + 1.</summary>
    public Tensor? PositionIds { get; init; }
}

/// <summary>
/// Autoregressive generation over token ids: one prefill over the (left-padded) prompt, then one cached decoding step per
/// token. Greedy unless <see cref="GenerationOptions.DoSample"/>. A batch gives the same tokens as each of its rows alone.
/// The returned tokens of a sequence include its stop token when one was produced.
/// </summary>
public sealed class TokenGenerator
{
    private readonly ICausalLanguageModel _model;

    public TokenGenerator(ICausalLanguageModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
    }

    /// <summary>Generates for each prompt (left-padded into one batch) and returns the new tokens of each.</summary>
    public IReadOnlyList<int[]> Generate(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        (Tensor ids, Tensor mask) = LeftPad(prompts, options.PadTokenId);
        using (ids)
        using (mask)
        {
            return Generate(new GenerationPrompt { InputIds = ids, AttentionMask = mask }, options, cancellationToken);
        }
    }

    /// <summary>Generates from a tensor prompt and returns the new tokens of each sequence.</summary>
    public IReadOnlyList<int[]> Generate(GenerationPrompt prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        using var session = new Session(_model, prompt, options);
        var generated = Enumerable.Range(0, session.BatchSize).Select(_ => new List<int>()).ToArray();
        while (session.Next(cancellationToken) is { } tokens)
        {
            for (int b = 0; b < tokens.Length; b++)
            {
                if (tokens[b] >= 0)
                {
                    generated[b].Add(tokens[b]);
                }
            }
        }

        return generated.Select(g => g.ToArray()).ToArray();
    }

    /// <summary>Streams the new tokens of one prompt as they are decoded (each step runs on the thread pool).</summary>
    public async IAsyncEnumerable<int> StreamAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        (Tensor ids, Tensor mask) = LeftPad([prompt], options.PadTokenId);
        using (ids)
        using (mask)
        {
            await foreach (int token in StreamAsync(new GenerationPrompt { InputIds = ids, AttentionMask = mask }, options, cancellationToken))
            {
                yield return token;
            }
        }
    }

    /// <summary>Streams the new tokens of a one-sequence tensor prompt as they are decoded.</summary>
    public async IAsyncEnumerable<int> StreamAsync(GenerationPrompt prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var session = new Session(_model, prompt, options);
        if (session.BatchSize != 1)
        {
            throw new ArgumentException($"Streaming takes one sequence; the prompt has {session.BatchSize}. Use Generate for a batch.", nameof(prompt));
        }

        while (await Task.Run(() => session.Next(cancellationToken), cancellationToken) is { } tokens)
        {
            if (tokens[0] >= 0)
            {
                yield return tokens[0];
            }
        }
    }

    /// <summary>Token lists → ids [B, Lmax] left-padded with <paramref name="padTokenId"/> and the 0/1 mask [B, Lmax].</summary>
    private static (Tensor Ids, Tensor Mask) LeftPad(IReadOnlyList<IReadOnlyList<int>> prompts, int padTokenId)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0 || prompts.Any(p => p is null || p.Count == 0))
        {
            throw new ArgumentException("Every prompt needs at least one token, and there must be at least one prompt.", nameof(prompts));
        }

        int batch = prompts.Count;
        int length = prompts.Max(p => p.Count);
        long[] ids = new long[batch * length];
        long[] mask = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            int offset = length - prompts[b].Count;
            for (int i = 0; i < length; i++)
            {
                bool real = i >= offset;
                ids[b * length + i] = real ? prompts[b][i - offset] : padTokenId;
                mask[b * length + i] = real ? 1 : 0;
            }
        }

        Tensor idTensor = tensor(ids, [batch, length], ScalarType.Int64).DetachFromDisposeScope();
        Tensor maskTensor = tensor(mask, [batch, length], ScalarType.Int64).DetachFromDisposeScope();
        return (idTensor, maskTensor);
    }

    /// <summary>
    /// One generation: the cache, the attention mask (preallocated to the cache capacity), the next position of each
    /// sequence and which sequences have finished. <see cref="Next"/> runs the prefill first, then one step per call.
    /// Its tensors live outside dispose scopes (each call may run on another thread) and are freed by Dispose.
    /// </summary>
    private sealed class Session : IDisposable
    {
        private readonly ICausalLanguageModel _model;
        private readonly GenerationPrompt _prompt;
        private readonly GenerationOptions _options;
        private readonly HashSet<int> _stop;
        private readonly bool[] _finished;
        private readonly int _promptLength;
        private IKeyValueCache? _cache;
        private Tensor? _mask;            // [B, capacity] int64: prompt mask, then ones
        private Tensor? _nextPosition;    // [B, 1] float32
        private Generator? _generator;
        private int[]? _last;             // tokens chosen at the previous step
        private int _produced;

        public Session(ICausalLanguageModel model, GenerationPrompt prompt, GenerationOptions options)
        {
            ArgumentNullException.ThrowIfNull(prompt);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            if ((prompt.InputIds is null) == (prompt.InputsEmbeds is null))
            {
                throw new ArgumentException("A prompt has exactly one of InputIds and InputsEmbeds.", nameof(prompt));
            }

            Tensor first = prompt.InputIds ?? prompt.InputsEmbeds!;
            if (first.ndim != (prompt.InputIds is null ? 3 : 2) || first.shape[1] == 0)
            {
                throw new ArgumentException($"Prompt ids must be [B, L] and embeddings [B, L, H] with L ≥ 1; got [{string.Join(", ", first.shape)}].", nameof(prompt));
            }

            BatchSize = (int)first.shape[0];
            _promptLength = (int)first.shape[1];
            foreach ((Tensor? t, string name) in new[] { (prompt.AttentionMask, "AttentionMask"), (prompt.PositionIds, "PositionIds") })
            {
                if (t is not null && (t.ndim != 2 || t.shape[0] != BatchSize || t.shape[1] != _promptLength))
                {
                    throw new ArgumentException($"{name} must be [B, L] = [{BatchSize}, {_promptLength}]; got [{string.Join(", ", t.shape)}].", nameof(prompt));
                }
            }

            if (prompt.AttentionMask is { } mask)
            {
                using DisposeScope scope = NewDisposeScope();
                if (!mask.select(1, _promptLength - 1).eq(1).all().item<bool>())
                {
                    throw new ArgumentException("The attention mask must pad on the left: the last position of every sequence must be real.", nameof(prompt));
                }
            }

            _model = model;
            _prompt = prompt;
            _options = options;
            _stop = [.. options.StopTokenIds];
            _finished = new bool[BatchSize];
        }

        public int BatchSize { get; }

        /// <summary>The next token of every sequence (−1 for one that had already finished), or null when all are done.</summary>
        public int[]? Next(CancellationToken cancellationToken)
        {
            if (_produced >= _options.MaxNewTokens || _finished.All(f => f))
            {
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
            using IDisposable noGrad = no_grad();
            using DisposeScope scope = NewDisposeScope();
            Tensor logits = _cache is null ? Prefill() : Step();                  // [B, V] float32
            int[] chosen = Choose(logits);
            int[] result = new int[BatchSize];
            for (int b = 0; b < BatchSize; b++)
            {
                result[b] = _finished[b] ? -1 : chosen[b];
                _finished[b] |= !_finished[b] && _stop.Contains(chosen[b]);
            }

            _last = chosen;
            _produced++;
            return result;
        }

        private Tensor Prefill()
        {
            Device device = _model.Device;
            int capacity = _promptLength + _options.MaxNewTokens;
            _cache = _model.CreateCache(BatchSize, capacity);
            Tensor promptMask = _prompt.AttentionMask?.to(ScalarType.Int64, device)
                ?? ones(BatchSize, _promptLength, ScalarType.Int64, device);        // [B, L]
            _mask = ones(BatchSize, capacity, ScalarType.Int64, device).DetachFromDisposeScope();   // [B, capacity]
            using (Tensor promptSlots = _mask.narrow(1, 0, _promptLength))                        // [B, L]
            {
                promptSlots.copy_(promptMask);
            }

            Tensor positions = _prompt.PositionIds?.to(ScalarType.Float32, device)
                ?? (promptMask.cumsum(-1) - 1).masked_fill(promptMask.eq(0), 1).to(ScalarType.Float32);   // [B, L]
            _nextPosition = (positions.narrow(1, _promptLength - 1, 1) + 1).DetachFromDisposeScope();   // [B, L] -> [B, 1]
            if (_options.DoSample)
            {
                _generator = _options.Seed is { } seed ? new Generator(unchecked((ulong)seed), device) : null;
            }

            Tensor? ids = _prompt.InputIds?.to(ScalarType.Int64, device);
            Tensor? embeds = _prompt.InputsEmbeds?.to(device);
            return _model.NextTokenLogits(ids, embeds, _mask.narrow(1, 0, _promptLength), positions, _cache);
        }

        private Tensor Step()
        {
            Device device = _model.Device;
            long[] next = new long[BatchSize];
            for (int b = 0; b < BatchSize; b++)
            {
                next[b] = _finished[b] ? _options.PadTokenId : _last![b];
            }

            Tensor ids = tensor(next, [BatchSize, 1], ScalarType.Int64).to(device);    // [B, 1]
            Tensor positions = _nextPosition!.clone();                                 // [B, 1]
            _nextPosition.add_(1);
            int length = _cache!.Length + 1;
            return _model.NextTokenLogits(ids, null, _mask!.narrow(1, 0, length), positions, _cache);
        }

        private int[] Choose(Tensor logits)                                            // [B, V] float32
        {
            Tensor chosen;
            if (!_options.DoSample)
            {
                chosen = logits.argmax(-1);                                            // [B]
            }
            else
            {
                Tensor scores = logits / _options.Temperature;                         // [B, V]
                long vocabulary = scores.shape[1];
                if (_options.TopK > 0 && _options.TopK < vocabulary)
                {
                    (Tensor topValues, _) = scores.topk(_options.TopK, -1);           // [B, k]
                    Tensor kth = topValues.narrow(1, _options.TopK - 1, 1);           // [B, k] -> [B, 1]
                    scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
                }

                if (_options.TopP < 1)
                {
                    (Tensor sorted, Tensor order) = scores.sort(-1, descending: false); // [B, V] ascending
                    Tensor cumulative = sorted.softmax(-1).cumsum(-1);                 // [B, V]
                    Tensor dropSorted = cumulative.le(1 - _options.TopP);              // [B, V]
                    dropSorted.narrow(1, vocabulary - 1, 1).fill_(false);              // keep at least the most likely token
                    Tensor drop = dropSorted.scatter(1, order, dropSorted);             // back to vocabulary order
                    scores = scores.masked_fill(drop, double.NegativeInfinity);
                }

                Tensor probabilities = scores.softmax(-1);                             // [B, V]
                chosen = probabilities.multinomial(1, generator: _generator).squeeze(1);   // [B, 1] -> [B]
            }

            return chosen.to(ScalarType.Int64).cpu().data<long>().Select(t => (int)t).ToArray();
        }

        public void Dispose()
        {
            _cache?.Dispose();
            _mask?.Dispose();
            _nextPosition?.Dispose();
            _generator?.Dispose();
        }
    }
}
