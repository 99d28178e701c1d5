namespace VideoLong.Contracts;

/// <summary>Command: run a needle-in-a-haystack benchmark, from a config file or an inline config (optionally with an inline grid).</summary>
public sealed record RunNiahBenchmark
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>A NIAH config (JSON file, see samples/niah); set this or <see cref="ConfigJson"/>.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>A NIAH config given inline (the same JSON as a config file); relative paths are refused.</summary>
    public string? ConfigJson { get; init; }

    /// <summary>Overrides the config's haystack video, lengths, depths and compression; the needles come from the config.</summary>
    public NiahGrid? Grid { get; init; }

    public required string Model { get; init; }

    /// <summary>Run the config's small grid.</summary>
    public bool Quick { get; init; }

    /// <summary>Overrides the config's seed.</summary>
    public long? Seed { get; init; }

    /// <summary>Folder for results.json, results.csv, heatmap.png and summary.md; default: DATA/niah/JOB_ID.</summary>
    public string? OutputDirectory { get; init; }
}
