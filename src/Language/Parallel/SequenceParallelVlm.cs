// MM-SP end to end for a LLaVA-OneVision video prompt (ALGORITHMS.md §4.2): stage 1 encodes the video's frames spread
// over the rank devices (ShardedVideoEncoder), the features replace the prompt's video placeholders, stage 2 shards the
// whole token sequence zigzag and runs the language model's prefill with ring attention (SequenceParallelQwen2, on
// the same per-device replicas).
using VideoLong.Language.Models.LlavaOnevision;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>Sequence-parallel prefill of a video prompt through a <see cref="LlavaOnevisionForConditionalGeneration"/>.</summary>
public sealed class SequenceParallelVlm : IDisposable
{
    private readonly ShardedVideoEncoder _encoder;
    private readonly SequenceParallelQwen2 _language;

    /// <summary>One rank per device (repeats allowed); other devices than the model's get one copy of the weights each.</summary>
    public SequenceParallelVlm(LlavaOnevisionForConditionalGeneration model, IReadOnlyList<Device> devices)
        : this(model, devices, copyPerRank: false)
    {
    }

    internal SequenceParallelVlm(LlavaOnevisionForConditionalGeneration model, IReadOnlyList<Device> devices, bool copyPerRank)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        _encoder = new ShardedVideoEncoder(model, devices, copyPerRank);
        _language = new SequenceParallelQwen2(_encoder.Replicas.Select(m => m.LanguageModel).ToArray(), devices);
    }

    public LlavaOnevisionForConditionalGeneration Model { get; }

    /// <summary>
    /// Prefill of <paramref name="inputIds"/> [B, L] whose video placeholders (Config.VideoTokenIndex) take the features of
    /// <paramref name="pixelValuesVideos"/> [B, F, 3, S, S], as <see cref="LlavaOnevisionForConditionalGeneration.BuildInputsEmbeds"/>
    /// does, at <paramref name="positionIds"/> [B, L] (null: 0 … L − 1).
    /// </summary>
    public SequenceParallelPrefill Prefill(Tensor inputIds, Tensor pixelValuesVideos, VlmOptions? options = null, Tensor? positionIds = null,
        RingAttentionOptions? ringOptions = null, bool keepKvCache = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        using Tensor embeds = InputsEmbeds(inputIds, pixelValuesVideos, options, cancellationToken);   // [B, L, H]
        return _language.Prefill(embeds, positionIds, ringOptions, keepKvCache, cancellationToken);
    }

    /// <summary>Token embeddings with the video placeholders replaced by the sharded encoder's features: [B, L, H] on the first rank's device.</summary>
    public Tensor InputsEmbeds(Tensor inputIds, Tensor pixelValuesVideos, VlmOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        using var scope = NewDisposeScope();
        Tensor ids = inputIds.to(_encoder.Devices[0]);
        Tensor features;
        using (no_grad())
        {
            features = _encoder.Encode(pixelValuesVideos, options, _encoder.Devices[0], cancellationToken);   // [B·(F·t + 1), H]
        }

        Tensor embeds = Model.LanguageModel.EmbedTokens(ids);                              // [B, L, H] (model's device)
        embeds = embeds.to(features.device);
        embeds = LlavaOnevisionForConditionalGeneration.Splice(embeds, ids, Model.Config.VideoTokenIndex, features, "Video",
            "Hint: a video of F frames takes F·t + 1 placeholder tokens (t tokens per frame: HiCo's TokensPerFrame, or the pooled grid).");   // [B, L, H]
        return embeds.MoveToOuterDisposeScope();
    }

    /// <summary>Generation over the distributed KV cache of a <see cref="Prefill"/> made with keepKvCache: true.</summary>
    public SequenceParallelDecoding StartDecoding(SequenceParallelPrefill prefill) => _language.StartDecoding(prefill);

    public void Dispose()
    {
        _language.Dispose();
        _encoder.Dispose();
    }
}
