namespace VideoLong.Pipeline.Niah;

/// <summary>One trial: a needle at a depth of a haystack length (or, multi-hop, one sample at one length; image: one size and position).</summary>
public sealed record NiahTrial
{
    public required int Frames { get; init; }

    /// <summary>Depth in [0, 1] (image NIAH: the needle's raster position among the regions).</summary>
    public required double Depth { get; init; }

    public required string Needle { get; init; }

    /// <summary>Haystack frame the needle goes before, ⌊d·F⌋ (image: region index).</summary>
    public required int InsertedBefore { get; init; }

    /// <summary>Timestamp of that haystack frame (null at the end).</summary>
    public double? InsertedBeforeSeconds { get; init; }

    public required int VisualTokens { get; init; }

    public required string Question { get; init; }

    public required string Expected { get; init; }

    public string? Generated { get; init; }

    public bool? GeneratedCorrect { get; init; }

    public string? TeacherForced { get; init; }

    public bool? TeacherForcedCorrect { get; init; }

    public double? TeacherForcedTokenAccuracy { get; init; }

    /// <summary>1 or 0: teacher-forced when scored so, else the generated answer's match.</summary>
    public required double Score { get; init; }

    /// <summary>Multi-hop: which question (caption / qa).</summary>
    public string? Part { get; init; }

    /// <summary>Multi-hop: the shuffled order of needles (names) at their positions.</summary>
    public IReadOnlyList<string>? Order { get; init; }

    public double Seconds { get; init; }
}

/// <summary>Mean score of one grid cell (over needles).</summary>
public sealed record NiahCell(int Frames, double Depth, double Score, int Trials);

/// <summary>Multi-hop breakdown per haystack length.</summary>
public sealed record NiahMultihopSummary(int Frames, double Overall, double Caption, double Qa, double Both, double OnlyCaption, double OnlyQa, double Neither);

/// <summary>What was encoded, and how often (the haystack once per configuration).</summary>
public sealed record NiahEncodingStats
{
    public required int HaystackFrames { get; init; }

    public required bool HaystackFromCache { get; init; }

    public required string HaystackCacheKey { get; init; }

    public required int NeedleFrames { get; init; }

    public required double EncodeSeconds { get; init; }
}

/// <summary>Everything a run records: provenance, encoding, trials, cells and the overall score.</summary>
public sealed record NiahRunResult
{
    public required string Name { get; init; }

    public required NiahKind Kind { get; init; }

    public required long Seed { get; init; }

    public required bool Quick { get; init; }

    public required NiahScoring Scoring { get; init; }

    public required NiahModelInfo Model { get; init; }

    public NiahHaystackProvenance? Haystack { get; init; }

    public required NiahEncodingStats Encoding { get; init; }

    public required IReadOnlyList<int> FrameCounts { get; init; }

    public required IReadOnlyList<double> Depths { get; init; }

    public required IReadOnlyList<NiahTrial> Trials { get; init; }

    public required IReadOnlyList<NiahCell> Cells { get; init; }

    public IReadOnlyList<NiahMultihopSummary> Multihop { get; init; } = [];

    /// <summary>False for the results written while a run is still going (after each haystack length).</summary>
    public bool Complete { get; init; } = true;

    /// <summary>Mean over cells.</summary>
    public required double Overall { get; init; }

    public required DateTimeOffset Started { get; init; }

    public required double Seconds { get; init; }

    /// <summary>Axis names of the heatmap (x: frames or image side; y: depth, position or question).</summary>
    public string XLabel { get; init; } = "Frames";

    public string YLabel { get; init; } = "Depth";

    /// <summary>Labels of the y values when they are not depths (multi-hop questions, image positions); null for depths in %.</summary>
    public IReadOnlyList<string>? YTickLabels { get; init; }
}

/// <summary>Progress of a run: a stage and trials done out of all.</summary>
public readonly record struct NiahProgress(string Stage, int Done, int Total);
