using VideoLong.Contracts;
using VideoLong.Language.Models.LlavaOnevision;

namespace VideoLong.Pipeline.Bus;

/// <summary>The message's <see cref="CompressionSettings"/> as the model's <see cref="VlmOptions"/>, in one place for the encode and answer stages and the CLI.</summary>
public static class CompressionOptions
{
    public static VlmOptions ToVlmOptions(CompressionSettings compression, int visionBatchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(compression);
        return new VlmOptions
        {
            TokensPerFrame = compression.TokensPerFrame,
            VisionBatchSize = visionBatchSize,
            DropLayers = compression.DropLayers,
            DropRatios = compression.DropRatios,
            DropMode = ModeName(compression.DropMode),
            V2peStride = compression.V2peStride,
            TimePrompt = true,
        };
    }

    /// <summary>The CLI's name of a drop mode: uniform, attention, uniform0_attention.</summary>
    public static string ModeName(TokenDropMode mode) => mode switch
    {
        TokenDropMode.Uniform => "uniform",
        TokenDropMode.Attention => "attention",
        TokenDropMode.Uniform0Attention => "uniform0_attention",
        _ => throw new VideoLongException($"Invalid drop mode {mode}: accepted values are Uniform, Attention, Uniform0Attention."),
    };

    /// <summary>Parses uniform | attention | uniform0_attention.</summary>
    public static TokenDropMode ParseMode(string name) => name switch
    {
        "uniform" => TokenDropMode.Uniform,
        "attention" => TokenDropMode.Attention,
        "uniform0_attention" => TokenDropMode.Uniform0Attention,
        _ => throw new VideoLongException($"Invalid drop mode '{name}': accepted values are uniform, attention, uniform0_attention."),
    };

    /// <summary>Checks the settings on their own and against a decoder of <paramref name="numHiddenLayers"/> layers.</summary>
    /// <exception cref="VideoLongException">A setting is invalid; the message says what is accepted.</exception>
    public static void Validate(CompressionSettings compression, int numHiddenLayers) =>
        VideoPromptCompression.Validate(ToVlmOptions(compression), numHiddenLayers);
}
