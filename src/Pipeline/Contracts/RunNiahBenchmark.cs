namespace VideoLong.Contracts;

/// <summary>Command: run a needle-in-a-haystack benchmark, from a config file or an inline grid.</summary>
public sealed record RunNiahBenchmark
{
    public required JobId JobId { get; init; }                 // correlation id
    public required DateTimeOffset Timestamp { get; init; }
    public int Version { get; init; } = 1;

    /// <summary>A NIAH config (JSON); set this or <see cref="Grid"/>.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>The grid to run; set this or <see cref="ConfigPath"/>.</summary>
    public NiahGrid? Grid { get; init; }

    public required string Model { get; init; }
}
