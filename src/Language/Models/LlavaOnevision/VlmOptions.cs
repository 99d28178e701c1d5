using System.Globalization;

namespace VideoLong.Language.Models.LlavaOnevision;

/// <summary>How visual tokens are compressed and positioned for long videos (HiCo clip merge, video-level dropping, V2PE).</summary>
public sealed record VlmOptions
{
    /// <summary>HiCo clip-level merge: tokens per frame after merging (16 in VideoChat-Flash); null keeps the model's own pooling.</summary>
    public int? TokensPerFrame { get; init; }

    /// <summary>Frames sent through the vision tower at once (bounds memory for long videos).</summary>
    public int VisionBatchSize { get; init; } = 64;

    /// <summary>Frames per clip for the merge (4).</summary>
    public int ClipLength { get; init; } = 4;

    /// <summary>Video-level dropping: after these decoder layers (1-based); empty switches dropping off.</summary>
    public IReadOnlyList<int> DropLayers { get; init; } = [];

    /// <summary>Kept fraction of visual tokens: ρ_0 = 1, then one per drop layer.</summary>
    public IReadOnlyList<double> DropRatios { get; init; } = [];

    /// <summary>uniform, attention or uniform0_attention.</summary>
    public string DropMode { get; init; } = "uniform0_attention";

    /// <summary>V2PE stride (δ = stride/256 per visual token); 256 = standard positions; null = standard.</summary>
    public int? V2peStride { get; init; }

    /// <summary>Prepend VideoChat-Flash's time prompt ("The video lasts for … seconds, and N frames are uniformly sampled from it.").</summary>
    public bool TimePrompt { get; init; } = true;

    /// <summary>Checks the values against each other; the message says what is accepted.</summary>
    public void Validate()
    {
        if (TokensPerFrame is { } t && (t < 1 || t > 4096))
        {
            throw new VideoLongException($"Invalid tokens per frame {t}: must be between 1 and 4096 (VideoChat-Flash uses 16).");
        }

        if (VisionBatchSize < 1)
        {
            throw new VideoLongException($"Invalid vision batch size {VisionBatchSize}: must be ≥ 1.");
        }

        if (ClipLength < 1)
        {
            throw new VideoLongException($"Invalid clip length {ClipLength}: must be ≥ 1 (VideoChat-Flash uses 4).");
        }

        if (DropLayers.Count > 0)
        {
            if (DropRatios.Count != DropLayers.Count + 1)
            {
                throw new VideoLongException($"--drop-ratios needs {DropLayers.Count + 1} values (ρ_0 = 1, then one per drop layer); got {DropRatios.Count}.");
            }

            if (DropLayers.Any(l => l < 1) || DropLayers.Zip(DropLayers.Skip(1)).Any(p => p.Second <= p.First))
            {
                throw new VideoLongException("--drop-layers must be increasing layer numbers ≥ 1 (\"after decoder layer l\"), e.g. 4,18.");
            }

            if (Math.Abs(DropRatios[0] - 1) > 1e-12 || DropRatios.Any(r => !(r > 0 && r <= 1)) || DropRatios.Zip(DropRatios.Skip(1)).Any(p => p.Second > p.First))
            {
                throw new VideoLongException("--drop-ratios must start at 1 and not increase, each in (0, 1], e.g. 1,0.75,0.25.");
            }

            if (DropMode is not ("uniform" or "attention" or "uniform0_attention"))
            {
                throw new VideoLongException($"Invalid --drop-mode '{DropMode}': accepted values are uniform, attention, uniform0_attention.");
            }
        }

        if (V2peStride is { } s && (s < 1 || s > 256))
        {
            throw new VideoLongException($"Invalid --v2pe-stride {s}: must be between 1 and 256 (δ = stride/256; 256 = standard positions, 64 is the inference default).");
        }
    }

    /// <summary>Parses "4,18" or "1,0.75,0.25" style lists from the command line.</summary>
    public static T[] ParseList<T>(string? text, string option) where T : IParsable<T>
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return [];
        }

        try
        {
            return text.Split(',', StringSplitOptions.TrimEntries).Select(x => T.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException e)
        {
            throw new VideoLongException($"Invalid {option} '{text}': expected comma-separated numbers.", e);
        }
    }
}
