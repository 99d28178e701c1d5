using VideoLong.Contracts;
using VideoLong.Ingest.Images;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Bus;

/// <summary>The stored result of an AnalyzeImage job (the job store's result JSON).</summary>
public sealed record ImageAnalysis
{
    public required int Width { get; init; }

    public required int Height { get; init; }

    public required string Format { get; init; }

    /// <summary>The coordinate reference system of <see cref="RegionResult.Bounds"/> (e.g. <c>EPSG:26711</c>); null when not georeferenced or unnamed.</summary>
    public string? Crs { get; init; }

    public required bool Georeferenced { get; init; }

    public required RegionTask Task { get; init; }

    public string? Question { get; init; }

    public required int RegionSize { get; init; }

    public required int ChunkSize { get; init; }

    public required RegionOrder Order { get; init; }

    public required int Rows { get; init; }

    public required int Columns { get; init; }

    /// <summary>One per region, in visiting order.</summary>
    public required IReadOnlyList<RegionResult> Regions { get; init; }
}

/// <summary>
/// Large-image analysis (xT region grid, ALGORITHMS.md §2.1): the image opened lazily through Ingest, a grid of regions
/// laid over it, and each region, read one at a time, given to the VLM as an image (the anyres path of
/// <c>videolong chat --image</c>) with the question, or a caption request. A padded edge region shows the model only
/// its part inside the image. Results carry the pixel box and, for a georeferenced image, the map bounds with the CRS.
/// </summary>
public sealed class RegionAnalyzer(ModelRegistry models)
{
    public const int MaxRegionSize = 8192;
    public const int MaxRegionsLimit = 10_000;
    public const int MaxQuestionLength = 2000;
    public const string CaptionPrompt = "Describe this region of a large image in one or two sentences.";

    /// <summary>Checks the request and lays the grid over <paramref name="image"/>; nothing is decoded.</summary>
    /// <exception cref="VideoLongException">A setting is invalid or the grid holds more than <see cref="AnalyzeImage.MaxRegions"/> regions.</exception>
    public static RegionGrid Plan(LargeImage image, AnalyzeImage command)
    {
        ArgumentNullException.ThrowIfNull(image);
        Validate(command);
        RegionGrid grid = RegionGrid.Create(image.Width, image.Height, command.RegionSize, command.ChunkSize,
            command.Order == RegionOrder.ZigZag ? GridOrder.ZigZag : GridOrder.Raster,
            command.Edge switch { RegionEdge.Shift => GridEdgePolicy.Shift, RegionEdge.Drop => GridEdgePolicy.Drop, _ => GridEdgePolicy.Pad });
        if (grid.Count == 0)
        {
            throw new VideoLongException($"The {image.Width}×{image.Height} image holds no whole region of {command.RegionSize} px; use a smaller region size or the pad edge policy.");
        }

        if (grid.Count > command.MaxRegions)
        {
            throw new VideoLongException($"The grid has {grid.Count} regions ({grid.Rows}×{grid.Columns} of {command.RegionSize} px over {image.Width}×{image.Height}), more than the maximum {command.MaxRegions}; use a larger region size or raise the maximum of regions (--max-regions, maxRegions).");
        }

        return grid;
    }

    /// <summary>Checks the settings that do not depend on the image.</summary>
    public static void Validate(AnalyzeImage command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.RegionSize is < 16 or > MaxRegionSize)
        {
            throw new VideoLongException($"Invalid region size {command.RegionSize}: must be 16 to {MaxRegionSize} pixels.");
        }

        if (command.ChunkSize < 1 || command.ChunkSize > command.RegionSize || command.RegionSize % command.ChunkSize != 0)
        {
            throw new VideoLongException($"Invalid chunk size {command.ChunkSize}: must divide the region size {command.RegionSize} (e.g. {command.RegionSize / 2}).");
        }

        if (command.MaxRegions is < 1 or > MaxRegionsLimit)
        {
            throw new VideoLongException($"Invalid maximum of regions {command.MaxRegions}: must be 1 to {MaxRegionsLimit}.");
        }

        if (command.Task == RegionTask.Question && (string.IsNullOrWhiteSpace(command.Question) || command.Question.Length > MaxQuestionLength))
        {
            throw new VideoLongException($"A question task needs a question of 1 to {MaxQuestionLength} characters (or ask for captions instead).");
        }

        if (command.Generation.MaxNewTokens is < 1 or > 4096)
        {
            throw new VideoLongException($"Invalid maximum of new tokens {command.Generation.MaxNewTokens}: must be 1 to 4096.");
        }
    }

    /// <summary>The local path of the image a command names.</summary>
    public static string SourcePathOf(AnalyzeImage command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Source is { } source)
        {
            return source.Uri.IsFile ? source.Uri.LocalPath : throw new VideoLongException($"Image '{source.Uri}' is not a local file.");
        }

        return command.SourcePath ?? throw new VideoLongException("AnalyzeImage needs Source or SourcePath.");
    }

    /// <param name="beforeRegion">Called before each region with (index, count); throws to stop (cancellation).</param>
    /// <param name="afterRegion">Called after each region with (done, count): progress.</param>
    public async Task<ImageAnalysis> AnalyzeAsync(AnalyzeImage command, Func<int, int, Task>? beforeRegion, Func<int, int, Task>? afterRegion, CancellationToken cancellationToken)
    {
        using LargeImage image = LargeImage.Open(SourcePathOf(command));
        RegionGrid grid = Plan(image, command);
        LoadedModel model = await models.GetAsync(command.Model, cancellationToken).ConfigureAwait(false);
        GeoReference? geo = image.Geo;
        string? crs = geo?.Epsg is { } epsg ? $"EPSG:{epsg}" : null;
        var results = new List<RegionResult>(grid.Count);
        foreach (GridCell cell in grid.Cells)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (beforeRegion is not null)
            {
                await beforeRegion(results.Count, grid.Count).ConfigureAwait(false);
            }

            ImageRegion read = image.ReadRegion(cell);
            ImageRegion seen = cell.IsPadded ? read.Slice(cell.Valid) : read;
            string text = await AnswerAsync(model, seen, command, cancellationToken).ConfigureAwait(false);
            Ingest.Images.MapBounds? bounds = geo?.MapBoundsOf(cell.Box);
            results.Add(new RegionResult
            {
                Index = cell.Index, Row = cell.Row, Column = cell.Column, Box = Box(cell.Box), Valid = cell.IsPadded ? Box(cell.Valid) : null,
                Bounds = bounds is { } b ? new Contracts.MapBounds { MinX = b.MinX, MinY = b.MinY, MaxX = b.MaxX, MaxY = b.MaxY, Crs = crs } : null,
                Text = text,
            });
            if (afterRegion is not null)
            {
                await afterRegion(results.Count, grid.Count).ConfigureAwait(false);
            }
        }

        return new ImageAnalysis
        {
            Width = image.Width, Height = image.Height, Format = image.Format, Crs = crs, Georeferenced = geo is not null, Task = command.Task,
            Question = command.Task == RegionTask.Question ? command.Question : null, RegionSize = command.RegionSize, ChunkSize = command.ChunkSize,
            Order = command.Order, Rows = grid.Rows, Columns = grid.Columns, Regions = results,
        };
    }

    private static Contracts.PixelBox Box(Ingest.Images.PixelBox b) => new() { X = b.X, Y = b.Y, Width = b.Width, Height = b.Height };

    private static async Task<string> AnswerAsync(LoadedModel model, ImageRegion region, AnalyzeImage command, CancellationToken cancellationToken)
    {
        LlavaOnevisionForConditionalGeneration vlm = model.Model;
        string prompt = command.Task == RegionTask.Question ? command.Question!.Trim() : CaptionPrompt;
        int[] ids = ChatTemplate.Qwen2.Encode(model.Tokenizer, [new ChatMessage(ChatRoles.User, [ChatContent.Image, ChatContent.FromText(prompt)])], addGenerationPrompt: true);
        await model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Tensor embeds;
            using (IDisposable noGrad = no_grad())
            using (DisposeScope scope = NewDisposeScope())
            {
                Tensor cpu = AnyresImageProcessor.Process(region.Pixels, region.Width, region.Height, vlm.Config.VisionConfig.ImageSize,
                    vlm.Config.ImageGridPinpoints, VisionInputs.NormalizationFor(model.Directory, forVideo: false));
                Tensor pixels = cpu.to(vlm.LanguageModel.DType).to(vlm.LanguageModel.Device);
                Tensor sizes = tensor(new long[] { region.Height, region.Width }, [1, 2], device: vlm.LanguageModel.Device);
                int[] expanded = PlaceholderExpander.ForTokenizer(model.Tokenizer).Expand(ids, [(int)vlm.ImageTokenCount(region.Height, region.Width)], []).Ids;
                Tensor inputIds = tensor(expanded.Select(x => (long)x).ToArray(), [1, expanded.Length], device: vlm.LanguageModel.Device);
                embeds = vlm.BuildInputsEmbeds(new LlavaOnevisionInput { InputIds = inputIds, PixelValues = pixels, ImageSizes = sizes }).MoveToOuterDisposeScope();
            }

            using (embeds)
            {
                return await VisualEmbeds.GenerateAsync(model, embeds, command.Generation, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            model.Gate.Release();
        }
    }
}
