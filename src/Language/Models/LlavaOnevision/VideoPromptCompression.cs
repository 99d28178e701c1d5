using VideoLong.Language.Generation;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Positions;
using static TorchSharp.torch;

namespace VideoLong.Language.Models.LlavaOnevision;

/// <summary>
/// The video-level part of <see cref="VlmOptions"/> applied to one prompt inside the LLM: HiCo video-level dropping
/// (<see cref="VideoTokenDropping"/>) and V2PE fractional positions (<see cref="V2pePositions"/>). One place for
/// <c>videolong chat</c> and the pipeline's answer stage, so that both run exactly the same logits path. Owns the
/// position tensor it makes.
/// </summary>
public sealed class VideoPromptCompression : IDisposable
{
    private VideoPromptCompression(ICausalLanguageModel model, Tensor? positionIds, int visualTokens, int? visualTokensAfterDropping)
    {
        Model = model;
        PositionIds = positionIds;
        VisualTokens = visualTokens;
        VisualTokensAfterDropping = visualTokensAfterDropping;
    }

    /// <summary>The language model to generate with: the plain one, or the one that drops visual tokens in its prefill.</summary>
    public ICausalLanguageModel Model { get; }

    /// <summary>V2PE positions [1, L] float32 on the model's device; null for the standard positions.</summary>
    public Tensor? PositionIds { get; }

    /// <summary>Visual tokens in the prompt (those that reach the LLM's first layer).</summary>
    public int VisualTokens { get; }

    /// <summary>Visual tokens left after the last drop layer; null without dropping.</summary>
    public int? VisualTokensAfterDropping { get; }

    /// <summary>
    /// Checks <paramref name="options"/> on their own (<see cref="VlmOptions.Validate"/>) and against a decoder of
    /// <paramref name="numHiddenLayers"/> layers: every drop layer must lie in [1, layers − 1].
    /// </summary>
    /// <exception cref="VideoLongException">A setting is invalid; the message says what is accepted.</exception>
    public static void Validate(VlmOptions options, int numHiddenLayers)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.DropLayers.FirstOrDefault(l => l > numHiddenLayers - 1) is var layer and > 0)
        {
            throw new VideoLongException(
                $"Invalid drop layer {layer}: the model has {numHiddenLayers} decoder layers, so drop layers (\"after decoder layer l\") must be in [1, {numHiddenLayers - 1}].");
        }
    }

    /// <summary>
    /// The model and positions for a prompt of one sequence whose visual tokens (one contiguous block for dropping) are
    /// marked by <paramref name="isVisual"/>. Without dropping layers and without a V2PE stride this is the plain model
    /// with standard positions.
    /// </summary>
    /// <exception cref="VideoLongException">The options are invalid for this model or this prompt.</exception>
    public static VideoPromptCompression Apply(Qwen2ForCausalLM languageModel, IReadOnlyList<bool> isVisual, VlmOptions options)
    {
        ArgumentNullException.ThrowIfNull(languageModel);
        ArgumentNullException.ThrowIfNull(isVisual);
        Validate(options, languageModel.Config.NumHiddenLayers);
        int visualTokens = isVisual.Count(v => v);
        Tensor? positions = null;
        if (options.V2peStride is { } stride)
        {
            double[] v2pe = V2pePositions.Compute(isVisual, stride);
            positions = tensor(v2pe.Select(x => (float)x).ToArray(), [1, v2pe.Length], device: languageModel.Device)
                .DetachFromDisposeScope();                                            // owned (and disposed) by this object, not by a caller's scope
        }

        try
        {
            ICausalLanguageModel model = languageModel;
            int? kept = null;
            if (options.DropLayers.Count > 0 && visualTokens > 0)
            {
                int start = IndexOf(isVisual, true);
                var dropping = new VideoTokenDropping
                {
                    Mode = ModeOf(options.DropMode),
                    Layers = options.DropLayers,
                    Ratios = options.DropRatios,
                    VisualStart = start,
                    VisualCount = visualTokens,
                    // Re-packing (the reference) would turn V2PE's fractional positions into integers after a drop.
                    Positions = options.V2peStride is null ? VideoDropPositions.Repacked : VideoDropPositions.Original,
                };
                if (IndexOf(isVisual, false, start) is var end and >= 0 && isVisual.Skip(end).Any(v => v))
                {
                    throw new VideoLongException("Video-level dropping needs the visual tokens in one contiguous block (one video, no image); this prompt has several.");
                }

                try
                {
                    dropping.Validate(languageModel.Config.NumHiddenLayers, isVisual.Count);
                }
                catch (ArgumentException e)
                {
                    throw new VideoLongException(e.Message, e);
                }

                kept = dropping.TokensAt(dropping.Ratios.Count - 1);
                model = languageModel.WithVideoTokenDropping(dropping);
            }

            return new VideoPromptCompression(model, positions, visualTokens, kept);
        }
        catch
        {
            positions?.Dispose();
            throw;
        }
    }

    /// <summary>The dropping mode a <see cref="VlmOptions.DropMode"/> name stands for.</summary>
    public static VideoTokenDropMode ModeOf(string dropMode) => dropMode switch
    {
        "uniform" => VideoTokenDropMode.Uniform,
        "attention" => VideoTokenDropMode.Attention,
        "uniform0_attention" => VideoTokenDropMode.Uniform0Attention,
        _ => throw new VideoLongException($"Invalid drop mode '{dropMode}': accepted values are uniform, attention, uniform0_attention."),
    };

    public void Dispose() => PositionIds?.Dispose();

    private static int IndexOf(IReadOnlyList<bool> values, bool value, int from = 0)
    {
        for (int i = from; i < values.Count; i++)
        {
            if (values[i] == value)
            {
                return i;
            }
        }

        return -1;
    }
}
