using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Bus;

namespace VideoLong.Pipeline.Niah;

/// <summary>Per-run choices that override the config (the CLI's options, a job's message).</summary>
public sealed record NiahRunOptions
{
    public bool Quick { get; init; }

    /// <summary>Where results.json, results.csv, heatmap.png and summary.md go.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Checkpoint folder instead of the config's <c>model</c>.</summary>
    public string? Model { get; init; }

    public long? Seed { get; init; }
}

/// <summary>
/// Runs a NIAH config end to end with the project's LLaVA-OneVision model: loads it through the <see cref="ModelRegistry"/>,
/// runs the grid (haystack tokens cached in the <see cref="ArtifactCache"/>) and writes the report files. Used by the
/// CLI verb, the bus consumer and the HTTP route alike.
/// </summary>
public sealed class NiahBenchmark(ModelRegistry models, ArtifactCache cache)
{
    public async Task<(NiahRunResult Result, IReadOnlyList<string> Files)> RunAsync(NiahConfig config, NiahRunOptions options, IProgress<NiahProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        NiahConfig effective = options.Seed is { } seed ? config with { Seed = seed } : config;
        if (options.Quick)
        {
            effective = effective.ApplyQuick();
        }

        // --model, else the config's model, else the project's own VideoLong-Tiny.
        string modelPath = options.Model ?? (effective.Model is { } m ? effective.Resolve(m) : Training.DefaultModel.Resolve());
        progress?.Report(new NiahProgress("model", 0, 1));
        LoadedModel loaded = await models.GetAsync(modelPath, cancellationToken).ConfigureAwait(false);
        var model = new LlavaNiahModel(loaded, effective.Compression);
        var runner = new NiahRunner(model, cache)
        {
            Checkpoint = (partial, ct) => NiahReport.WriteAsync(partial, options.OutputDirectory, ct),
        };
        NiahRunResult result = await runner.RunAsync(effective, options.Quick, progress, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<string> files = await NiahReport.WriteAsync(result, options.OutputDirectory, cancellationToken).ConfigureAwait(false);
        return (result, files);
    }
}
