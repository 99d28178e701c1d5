using Image = NetVips.Image;
using ScottPlot;
using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Tests.Niah;

public sealed class When_niah_results_are_written : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "videolong-niah-report-" + Guid.NewGuid().ToString("N")[..8]);

    private static NiahRunResult Result(int[] frames, double[] depths, Func<int, double, double> score)
    {
        var trials = new List<NiahTrial>();
        foreach (int f in frames)
        {
            foreach (double d in depths)
            {
                trials.Add(new NiahTrial
                {
                    Frames = f, Depth = d, Needle = "n", InsertedBefore = NiahGridMath.InsertionIndex(d, f), VisualTokens = f * 4, Question = "q, \"quoted\"",
                    Expected = "a", Generated = "a", GeneratedCorrect = true, Score = score(f, d),
                });
            }
        }

        return NiahRunner.Result(NiahConfig.Parse("""{ "haystack": { "video": "x.mp4" }, "frameCounts": [4], "needles": [{ "text": "t", "question": "q", "answer": "a" }] }""", "/"),
            false, new NiahModelInfo { Model = "m", Fingerprint = "abc", TokensPerFrame = 4, ClipLength = 1, FrameSize = 32, Device = "cpu" },
            null, new NiahEncodingStats { HaystackFrames = 4, HaystackFromCache = false, HaystackCacheKey = "", NeedleFrames = 1, EncodeSeconds = 0 },
            frames, depths, trials, [], DateTimeOffset.UnixEpoch, System.Diagnostics.Stopwatch.StartNew());
    }

    [Theory]
    [InlineData(new[] { 200, 400, 600 }, new[] { 0, 0.5, 1 })]
    [InlineData(new[] { 400 }, new[] { 0, 0.5 })]          // one column (a single image size)
    [InlineData(new[] { 200, 400 }, new[] { 0.5 })]        // one row
    [InlineData(new[] { 400 }, new[] { 0.5 })]
    public void The_heatmap_is_a_png_with_one_cell_per_grid_point_coloured_by_score(int[] frames, double[] depths)
    {
        Directory.CreateDirectory(_dir);
        // Only (400 frames, depth 0.5) scores 1.
        NiahRunResult result = Result(frames, depths, (f, d) => f == 400 && d == 0.5 ? 1 : 0);
        string path = Path.Combine(_dir, $"heatmap-{frames.Length}x{depths.Length}.png");
        Plot plot = NiahReport.Heatmap(result, path);

        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        using Image png = Image.NewFromFile(path);
        Assert.Equal(NiahReport.HeatmapSize(result), (png.Width, png.Height));

        // Sample every cell away from its label: the one good cell is green, the others red.
        for (int r = 0; r < depths.Length; r++)
        {
            for (int c = 0; c < frames.Length; c++)
            {
                Pixel centre = plot.GetPixel(new Coordinates(c + 0.35, NiahReport.CellY(r, depths.Length) + 0.3));
                double[] rgb = png.Getpoint((int)centre.X, (int)centre.Y);
                bool good = frames[c] == 400 && depths[r] == 0.5;
                Assert.True(good ? rgb[1] > rgb[0] : rgb[0] > rgb[1], $"cell ({frames[c]}, {depths[r]}) has colour {string.Join(',', rgb)}");
            }
        }

        double[,] grid = NiahReport.Grid(result);
        Assert.Equal((depths.Length, frames.Length), (grid.GetLength(0), grid.GetLength(1)));
        Assert.Equal(1.0 / (frames.Length * depths.Length), result.Overall, 9);
    }

    [Fact]
    public async Task Json_csv_and_a_summary_with_the_overall_score_are_written()
    {
        NiahRunResult result = Result([8, 16], [0, 1], (f, d) => d == 0 ? 1 : 0);
        IReadOnlyList<string> files = await NiahReport.WriteAsync(result, _dir, CancellationToken.None);
        Assert.Equal(["results.json", "results.csv", "heatmap.png", "summary.md"], files.Select(Path.GetFileName));
        string[] csv = File.ReadAllLines(files[1]);
        Assert.Equal(1 + 4, csv.Length);
        Assert.StartsWith("name,kind,seed,frames,depth", csv[0], StringComparison.Ordinal);
        Assert.Contains("\"q, \"\"quoted\"\"\"", File.ReadAllText(files[1]), StringComparison.Ordinal);
        string summary = File.ReadAllText(files[3]);
        Assert.Contains("**Overall score: 0.500**", summary, StringComparison.Ordinal);
        Assert.Contains("Seed: 1234", summary, StringComparison.Ordinal);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(files[0]));
        Assert.Equal(4, doc.RootElement.GetProperty("trials").GetArrayLength());
        Assert.Equal(4, doc.RootElement.GetProperty("model").GetProperty("tokensPerFrame").GetInt32());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
