using System.CommandLine;
using System.Globalization;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong niah --config FILE [--quick] [--out DIR] [--model DIR] [--tokenizer DIR] [--device D] [--seed N] [--json]</c>:
/// runs a needle-in-a-haystack benchmark and writes results.json, results.csv, heatmap.png and summary.md.
/// </summary>
internal static class NiahCommand
{
    /// <summary>niah-report reads results.json files up to this size (a 10,000-frame grid writes well under 1 MB).</summary>
    private const long MaxResultsBytes = 256L << 20;

    /// <summary>
    /// <c>videolong niah-report DIR</c>: writes results.csv, heatmap.png and summary.md again from DIR/results.json (e.g. for
    /// a run made on a host without fonts, where the heatmap could not be drawn).
    /// </summary>
    public static Command CreateReport(CliContext cli)
    {
        var folder = new Argument<string>("folder") { Description = "A NIAH output folder holding results.json." };
        var command = new Command("niah-report", "Redraw a NIAH run's heatmap, CSV and summary from its results.json.") { folder };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string dir = Path.GetFullPath(parse.GetRequiredValue(folder));
            string file = Path.Combine(dir, NiahReport.ResultsJson);
            if (!File.Exists(file))
            {
                throw new VideoLongException($"No {NiahReport.ResultsJson} in '{dir}': give the output folder of a `videolong niah` run.");
            }

            if (new FileInfo(file).Length > MaxResultsBytes)
            {
                throw new VideoLongException($"'{file}' has {new FileInfo(file).Length:N0} bytes; results of a NIAH run are read up to {MaxResultsBytes:N0}.");
            }

            NiahRunResult? result;
            try
            {
                result = System.Text.Json.JsonSerializer.Deserialize<NiahRunResult>(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false), NiahReport.Json);
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new VideoLongException($"'{file}' is not the results.json of a NIAH run: {e.Message}", e);
            }

            if (result is null || result.Trials is null || result.Cells is null)
            {
                throw new VideoLongException($"'{file}' is not the results.json of a NIAH run (no trials or cells).");
            }

            IReadOnlyList<string> files = await NiahReport.WriteAsync(result, dir, cancellationToken).ConfigureAwait(false);
            await cli.Out.WriteLineAsync($"{result.Name}: rewrote {string.Join(", ", files.Select(Path.GetFileName))} in {dir}").ConfigureAwait(false);
            return VideoLongCli.ExitOk;
        });
        return command;
    }

    public static Command Create(CliContext cli)
    {
        var config = new Option<string>("--config") { Description = "NIAH config (JSON), e.g. samples/niah/quick.json.", Required = true };
        var quick = new Option<bool>("--quick") { Description = "Run the config's small grid (a few lengths, depths and needles)." };
        var output = new Option<string?>("--out") { Description = "Output folder (default: out/niah/NAME)." };
        var model = new Option<string?>("--model") { Description = "LLaVA-OneVision checkpoint folder (default: the config's model)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer folder, when not in the model folder (default: the config's tokenizer)." };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or cuda:N (default: the config's device, else cpu)." };
        var seed = new Option<long?>("--seed") { Description = "Seed (default: the config's); the same seed reproduces the run." };
        var data = new Option<string?>("--data") { Description = "Data folder of the artifact cache that keeps encoded haystacks (default ~/.videolong)." };
        var json = new Option<bool>("--json") { Description = "Print the overall score, cells and output files as JSON." };
        var command = new Command("niah", "Needle-in-a-haystack benchmark over a long video or a gigapixel image: results, heatmap and summary.")
        {
            config, quick, output, model, tokenizer, device, seed, data, json,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            NiahConfig niah = NiahConfig.Load(parse.GetRequiredValue(config));
            string outDir = FramesCommand.PrepareOutput(parse.GetValue(output) ?? Path.Combine("out", "niah", niah.Name + (parse.GetValue(quick) ? "-quick" : "")));
            string? tokenizerDir = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : niah.Tokenizer is { } ct ? niah.Resolve(ct) : null;
            string deviceName = parse.GetValue(device) ?? niah.Device ?? "cpu";
            var options = new PipelineOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory),
                TokenizerDirectory = tokenizerDir,
                Device = deviceName,
            };
            options.Validate();
            ArtifactCache cache = await ArtifactCache.OpenAsync(options.ArtifactDirectory, new ArtifactCacheOptions { MaxTotalBytes = options.CacheSizeBytes }, cancellationToken).ConfigureAwait(false);
            using var models = new ModelRegistry(options);
            var bars = new StageBars(cli);
            (NiahRunResult result, IReadOnlyList<string> files) = await new NiahBenchmark(models, cache).RunAsync(niah, new NiahRunOptions
            {
                Quick = parse.GetValue(quick),
                OutputDirectory = outDir,
                Model = parse.GetValue(model) is { } m ? Path.GetFullPath(m) : null,
                Seed = parse.GetValue(seed),
            }, bars, cancellationToken).ConfigureAwait(false);
            bars.Finish();
            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(new
                {
                    result.Name,
                    result.Overall,
                    result.Seed,
                    result.Quick,
                    result.Seconds,
                    trials = result.Trials.Count,
                    result.Cells,
                    result.Encoding,
                    files,
                }).ConfigureAwait(false);
            }
            else
            {
                await cli.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Name}: overall {result.Overall:0.000} over {result.Cells.Count} cells ({result.Trials.Count} trials, seed {result.Seed}) in {result.Seconds:0.0} s → {outDir}")).ConfigureAwait(false);
                await cli.Error.WriteLineAsync(result.Encoding.HaystackFromCache
                    ? "haystack visual tokens: from the artifact cache"
                    : $"haystack visual tokens: {result.Encoding.HaystackFrames} frames encoded once").ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    /// <summary>One progress bar per stage (model, haystack, trials).</summary>
    private sealed class StageBars(CliContext cli) : IProgress<NiahProgress>
    {
        private readonly Lock _lock = new();
        private string? _stage;
        private ProgressBar? _bar;

        public void Report(NiahProgress value)
        {
            lock (_lock)
            {
                if (_stage != value.Stage)
                {
                    _bar?.Finish();
                    _stage = value.Stage;
                    _bar = cli.Progress(value.Stage);
                }

                _bar!.Report((value.Done, Math.Max(value.Total, 1)));
            }
        }

        public void Finish()
        {
            lock (_lock)
            {
                _bar?.Finish();
            }
        }
    }
}
