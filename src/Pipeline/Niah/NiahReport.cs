using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using ScottPlot;

namespace VideoLong.Pipeline.Niah;

/// <summary>The files a run writes: results.json, results.csv, heatmap.png and summary.md.</summary>
public static class NiahReport
{
    public const string ResultsJson = "results.json";
    public const string ResultsCsv = "results.csv";
    public const string HeatmapPng = "heatmap.png";
    public const string SummaryMd = "summary.md";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Writes the four files into <paramref name="folder"/> (created if missing); returns their paths.</summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(NiahRunResult result, string folder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        Directory.CreateDirectory(folder);
        string json = Path.Combine(folder, ResultsJson), csv = Path.Combine(folder, ResultsCsv), png = Path.Combine(folder, HeatmapPng), md = Path.Combine(folder, SummaryMd);
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(result, Json), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(csv, Csv(result), cancellationToken).ConfigureAwait(false);
        string summary = Summary(result);
        try
        {
            Heatmap(result, png);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            // The results stand without the picture: say why it is missing instead of losing the run.
            summary += $"\nThe heatmap could not be drawn: SkiaSharp's native library did not load ({e.GetBaseException().Message}); install libfontconfig1 and fonts-dejavu-core (scripts/install-deps.sh).\n";
            await File.WriteAllTextAsync(md, summary, cancellationToken).ConfigureAwait(false);
            return [json, csv, md];
        }

        await File.WriteAllTextAsync(md, summary, cancellationToken).ConfigureAwait(false);
        return [json, csv, png, md];
    }

    /// <summary>One row per trial, with the provenance columns repeated so that every row stands on its own.</summary>
    public static string Csv(NiahRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var sb = new StringBuilder();
        sb.AppendLine("name,kind,seed,frames,depth,needle,part,question,inserted_before,inserted_before_seconds,visual_tokens,expected,generated,generated_correct,teacher_forced,teacher_forced_correct,teacher_forced_token_accuracy,score,seconds,model,tokens_per_frame,clip_length,drop_layers,drop_ratios,drop_mode,v2pe_stride,decoder,sampling,haystack_frames_encoded");
        NiahModelInfo m = result.Model;
        foreach (NiahTrial t in result.Trials)
        {
            string[] cells =
            [
                result.Name, KindName(result.Kind), F(result.Seed), F(t.Frames), F(t.Depth), t.Needle, t.Part ?? "", t.Question, F(t.InsertedBefore),
                t.InsertedBeforeSeconds is { } s ? F(s) : "", F(t.VisualTokens), t.Expected, t.Generated ?? "", B(t.GeneratedCorrect),
                t.TeacherForced ?? "", B(t.TeacherForcedCorrect), t.TeacherForcedTokenAccuracy is { } a ? F(a) : "", F(t.Score), F(Math.Round(t.Seconds, 3)),
                m.Model, F(m.TokensPerFrame), F(m.ClipLength), string.Join(' ', m.DropLayers), string.Join(' ', m.DropRatios.Select(F)), m.DropMode ?? "",
                m.V2peStride is { } v ? F(v) : "", result.Haystack?.Decoder ?? "", result.Haystack?.Sampling ?? "", F(result.Haystack?.EncodedFrames ?? 0),
            ];
            sb.AppendLine(string.Join(',', cells.Select(Quote)));
        }

        return sb.ToString();
    }

    /// <summary>The grid of cell scores: rows = y values (depths), columns = x values (frame counts); NaN where no trial ran.</summary>
    public static double[,] Grid(NiahRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var grid = new double[result.Depths.Count, result.FrameCounts.Count];
        for (int r = 0; r < result.Depths.Count; r++)
        {
            for (int c = 0; c < result.FrameCounts.Count; c++)
            {
                NiahCell? cell = result.Cells.FirstOrDefault(x => x.Frames == result.FrameCounts[c] && Math.Abs(x.Depth - result.Depths[r]) < 1e-9);
                grid[r, c] = cell?.Score ?? double.NaN;
            }
        }

        return grid;
    }

    /// <summary>Width and height of the heatmap PNG in pixels.</summary>
    public static (int Width, int Height) HeatmapSize(NiahRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return (Math.Clamp(260 + (result.FrameCounts.Count * 60), 640, 2400), Math.Clamp(200 + (result.Depths.Count * 60), 400, 1600));
    }

    /// <summary>
    /// The papers' heatmap: x = haystack length, y = depth (0 % at the top), colour = score from red (0) through yellow to
    /// green (1), each cell annotated with its score. Returns the plot (after saving) so that tests can map cells to pixels.
    /// </summary>
    public static Plot Heatmap(NiahRunResult result, string path)
    {
        ArgumentNullException.ThrowIfNull(result);
        double[,] grid = Grid(result);
        int rows = grid.GetLength(0), columns = grid.GetLength(1);
        var plot = new Plot();
        // Cells are drawn as rectangles (ScottPlot's heatmap draws nothing for a single row or column); the heatmap
        // plottable, hidden, only feeds the colour bar.
        var colormap = new ScottPlot.Colormaps.CustomInterpolated([Color.FromHex("#F0496E"), Color.FromHex("#EBB839"), Color.FromHex("#0CD79F")]);
        ScottPlot.Plottables.Heatmap heatmap = plot.Add.Heatmap(grid);
        heatmap.Colormap = colormap;
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        heatmap.IsVisible = false;
        plot.Add.ColorBar(heatmap);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                double y = CellY(r, rows);
                ScottPlot.Plottables.Rectangle cell = plot.Add.Rectangle(c - 0.5, c + 0.5, y - 0.5, y + 0.5);
                cell.FillStyle.Color = double.IsNaN(grid[r, c]) ? Colors.LightGray : colormap.GetColor(Math.Clamp(grid[r, c], 0, 1));
                cell.LineStyle.Color = Colors.White;
                cell.LineStyle.Width = 1;
            }
        }

        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                if (!double.IsNaN(grid[r, c]))
                {
                    ScottPlot.Plottables.Text label = plot.Add.Text(grid[r, c].ToString("0.00", CultureInfo.InvariantCulture), c, CellY(r, rows));
                    label.LabelAlignment = Alignment.MiddleCenter;
                    label.LabelFontSize = 12;
                    label.LabelFontColor = Colors.Black;
                }
            }
        }

        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, columns).Select(c => (double)c).ToArray(), result.FrameCounts.Select(F).ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(r => CellY(r, rows)).ToArray(),
            result.YTickLabels?.ToArray() ?? result.Depths.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d * 100:0.#}%")).ToArray());
        plot.Axes.SetLimits(-0.5, columns - 0.5, -0.5, rows - 0.5);
        plot.XLabel(result.XLabel);
        plot.YLabel(result.YLabel);
        plot.Title($"{result.Name}: overall {result.Overall:0.000} ({result.Model.TokensPerFrame} tokens/frame)");
        (int width, int height) = HeatmapSize(result);
        plot.SavePng(path, width, height);
        return plot;
    }

    /// <summary>The y coordinate of row <paramref name="row"/> (row 0, depth 0 %, at the top).</summary>
    public static double CellY(int row, int rows) => rows - 1 - row;

    /// <summary>Markdown: the overall score, the grid, provenance and how to reproduce it.</summary>
    public static string Summary(NiahRunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var sb = new StringBuilder();
        NiahModelInfo m = result.Model;
        sb.AppendLine(CultureInfo.InvariantCulture, $"# NIAH: {result.Name}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"**Overall score: {result.Overall:0.000}** (mean over {result.Cells.Count} cells; {result.Trials.Count} trials; scoring {result.Scoring.ToString().ToLowerInvariant()}{(result.Quick ? "; quick grid" : "")}{(result.Complete ? "" : "; PARTIAL: the run had not finished")})");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Seed: {result.Seed} (re-running the same config with this seed gives the same trials)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Model: `{m.Model}` (fingerprint {m.Fingerprint[..Math.Min(12, m.Fingerprint.Length)]}), device {m.Device}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Tokens per frame: {m.TokensPerFrame}; clip length {m.ClipLength}; frame size {m.FrameSize}²");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Video-level dropping: {(m.DropLayers.Count == 0 ? "off" : $"layers {string.Join(',', m.DropLayers)}, ratios {string.Join(',', m.DropRatios.Select(F))}, mode {m.DropMode}")}; V2PE stride: {(m.V2peStride is { } v ? F(v) : "off (standard positions)")}");
        if (result.Haystack is { } h)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- Haystack: `{h.Source}`; {h.Sampling}; decoder {h.Decoder}; {h.EncodedFrames} frames encoded{(h.SampledTimestamps.Count > 0 ? $" ({F(h.SampledTimestamps[0])} s … {F(h.SampledTimestamps[^1])} s)" : "")}");
        }

        NiahEncodingStats e = result.Encoding;
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Encoding: haystack {(e.HaystackFromCache ? "read from the artifact cache" : $"{e.HaystackFrames} frames encoded once")}, needles {e.NeedleFrames} frames; {e.EncodeSeconds:0.0} s");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Run time: {result.Seconds:0.0} s (started {result.Started:u})");
        sb.AppendLine();
        if (result.Multihop.Count > 0)
        {
            sb.AppendLine("| frames | overall | caption | QA | both | only caption | only QA | neither |");
            sb.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (NiahMultihopSummary s in result.Multihop)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {s.Frames} | {s.Overall:0.000} | {s.Caption:0.000} | {s.Qa:0.000} | {s.Both:0.000} | {s.OnlyCaption:0.000} | {s.OnlyQa:0.000} | {s.Neither:0.000} |");
            }

            sb.AppendLine();
        }

        double[,] grid = Grid(result);
        sb.AppendLine(CultureInfo.InvariantCulture, $"| {result.YLabel} \\ {result.XLabel} | {string.Join(" | ", result.FrameCounts.Select(F))} | mean |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| --- | {string.Join(" | ", result.FrameCounts.Select(_ => "---:"))} | ---: |");
        for (int r = 0; r < result.Depths.Count; r++)
        {
            double[] row = Enumerable.Range(0, result.FrameCounts.Count).Select(c => grid[r, c]).ToArray();
            double mean = row.Where(x => !double.IsNaN(x)).DefaultIfEmpty(double.NaN).Average();
            string label = result.YTickLabels is { } labels ? labels[r] : F(result.Depths[r]);
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {string.Join(" | ", row.Select(x => double.IsNaN(x) ? "–" : x.ToString("0.00", CultureInfo.InvariantCulture)))} | {mean:0.00} |");
        }

        sb.AppendLine();
        sb.AppendLine("Files: `results.json` (every trial with its provenance), `results.csv`, `heatmap.png`.");
        return sb.ToString();
    }

    /// <summary>The kind as configs spell it (single, multihop, image).</summary>
    public static string KindName(NiahKind kind) => kind switch
    {
        NiahKind.SingleHop => "single",
        NiahKind.Multihop => "multihop",
        _ => "image",
    };

    private static string F(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);

    private static string F(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string B(bool? value) => value is null ? "" : value.Value ? "1" : "0";

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
}
