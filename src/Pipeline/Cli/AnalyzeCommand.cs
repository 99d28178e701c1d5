using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VideoLong.Contracts;
using VideoLong.Ingest.Images;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong analyze IMAGE "question" | --caption</c>: a large image cut into an xT region grid, each region given
/// to the VLM as an image through the in-process pipeline; prints one line per region with its pixel box and, for a
/// GeoTIFF, its map bounds.
/// </summary>
internal static class AnalyzeCommand
{
    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static Command Create(CliContext cli)
    {
        var image = new Argument<string>("IMAGE") { Description = "The image (TIFF, BigTIFF, GeoTIFF, PNG, JPEG, WebP; tiled TIFF for gigapixel images)." };
        var question = new Argument<string?>("QUESTION") { Description = "The question asked of every region (or give --caption).", Arity = ArgumentArity.ZeroOrOne };
        var caption = new Option<bool>("--caption") { Description = "Write a caption for every region instead of answering a question." };
        var regionSize = new Option<int>("--region-size") { Description = "Side of a region in pixels (xT R).", DefaultValueFactory = _ => 512 };
        var chunkSize = new Option<int?>("--chunk-size") { Description = "Side of a chunk inside a region; must divide the region size (default: the region size)." };
        var order = new Option<string>("--order") { Description = "raster | zigzag: the order regions are visited in.", DefaultValueFactory = _ => "raster" };
        var edge = new Option<string>("--edge") { Description = "pad | shift | drop: regions at the right/bottom edge.", DefaultValueFactory = _ => "pad" };
        var maxRegions = new Option<int>("--max-regions") { Description = "Refuse grids with more regions than this.", DefaultValueFactory = _ => 64 };
        var model = new Option<string?>("--model") { Description = "LLaVA-OneVision checkpoint folder (default: VideoLong-Tiny, models/videolong-tiny)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the model folder." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens generated per region.", DefaultValueFactory = _ => 64 };
        var data = new Option<string?>("--data") { Description = "Data folder for the job store (default ~/.videolong)." };
        var json = new Option<bool>("--json") { Description = "Write the per-region results as JSON." };
        var command = new Command("analyze", "Answer a question about (or caption) every region of a large image, with pixel and map coordinates.")
        {
            image, question, caption, regionSize, chunkSize, order, edge, maxRegions, model, tokenizer, maxNew, data, json,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string path = Path.GetFullPath(parse.GetRequiredValue(image));
            string? text = parse.GetValue(question);
            bool captions = parse.GetValue(caption);
            if (captions == (text is not null))
            {
                throw new VideoLongException("Give a QUESTION or --caption (exactly one).");
            }

            int region = parse.GetValue(regionSize);
            var request = new AnalyzeImage
            {
                JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = path, Task = captions ? RegionTask.Caption : RegionTask.Question, Question = text,
                RegionSize = region, ChunkSize = parse.GetValue(chunkSize) ?? region, MaxRegions = parse.GetValue(maxRegions),
                Order = parse.GetValue(order) switch
                {
                    "raster" => RegionOrder.Raster,
                    "zigzag" => RegionOrder.ZigZag,
                    var o => throw new VideoLongException($"Invalid --order '{o}': accepted values are raster, zigzag."),
                },
                Edge = parse.GetValue(edge) switch
                {
                    "pad" => RegionEdge.Pad,
                    "shift" => RegionEdge.Shift,
                    "drop" => RegionEdge.Drop,
                    var e => throw new VideoLongException($"Invalid --edge '{e}': accepted values are pad, shift, drop."),
                },
                Model = InProcessJob.ModelFolder(parse.GetValue(model) ?? Training.DefaultModel.Resolve()),
                Generation = new GenerationSettings { MaxNewTokens = parse.GetValue(maxNew) },
            };

            // Checked here, before a bus starts: a bad image or grid is one line and exit 2 at once.
            using (LargeImage opened = LargeImage.Open(path))
            {
                RegionAnalyzer.Plan(opened, request);
            }

            var options = new PipelineOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory),
                TokenizerDirectory = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : null,
            };
            JobRecord job = await InProcessJob.RunAsync(cli, options, nameof(AnalyzeImage), request, (c, id) => c with { JobId = id }, cancellationToken).ConfigureAwait(false);
            ImageAnalysis analysis = JsonSerializer.Deserialize<ImageAnalysis>(job.ResultJson!, WebJson)!;
            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(new { jobId = job.Id.Value, analysis }).ConfigureAwait(false);
                return VideoLongCli.ExitOk;
            }

            await cli.Out.WriteLineAsync($"{analysis.Regions.Count} region(s) of {analysis.RegionSize} px ({analysis.Rows}×{analysis.Columns}) over {analysis.Width}x{analysis.Height} {analysis.Format}{(analysis.Crs is { } crs ? $", map coordinates in {crs}" : analysis.Georeferenced ? ", map coordinates (CRS not named)" : "")}").ConfigureAwait(false);
            foreach (RegionResult r in analysis.Regions)
            {
                string map = r.Bounds is { } b ? string.Create(CultureInfo.InvariantCulture, $" map [{b.MinX:0.###}, {b.MinY:0.###} – {b.MaxX:0.###}, {b.MaxY:0.###}]") : "";
                await cli.Out.WriteLineAsync($"#{r.Index} r{r.Row}c{r.Column} px {r.Box.X},{r.Box.Y} {r.Box.Width}x{r.Box.Height}{map}: {r.Text}").ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }
}
