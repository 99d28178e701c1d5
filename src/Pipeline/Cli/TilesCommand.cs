using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VideoLong.Ingest.Images;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong tiles IMAGE (--region X,Y,W,H | --grid REGION_PX[,CHUNK_PX]) --out DIR</c>: reads regions of a large
/// image lazily, writes each as PNG and a <c>manifest.json</c> with pixel boxes, chunk boxes and, for GeoTIFFs, map
/// coordinates.
/// </summary>
internal static class TilesCommand
{
    public const string ManifestName = "manifest.json";

    public static Command Create(CliContext cli)
    {
        var image = new Argument<string>("IMAGE") { Description = "The image (JPEG, PNG, WebP, TIFF, BigTIFF; tiled/pyramidal TIFF for gigapixel images)." };
        var region = new Option<string?>("--region") { Description = "One region X,Y,W,H in pixels." };
        var grid = new Option<string?>("--grid") { Description = "A grid of regions of REGION_PX, each cut into chunks of CHUNK_PX (default: REGION_PX)." };
        var area = new Option<string?>("--area") { Description = "Lay the grid over this part of the image only (X,Y,W,H)." };
        var order = new Option<string>("--order") { Description = "raster | zigzag: order of regions and of chunks.", DefaultValueFactory = _ => "raster" };
        var edge = new Option<string>("--edge") { Description = "pad | shift | drop: regions at the right/bottom edge.", DefaultValueFactory = _ => "pad" };
        var maxRegions = new Option<int>("--max-regions") { Description = "Refuse grids with more regions than this (each is written as a PNG).", DefaultValueFactory = _ => 256 };
        var pixelLimit = new Option<long?>("--pixel-limit") { Description = $"Refuse images with more pixels than this (default {LargeImageOptions.DefaultPixelLimit:N0} tiled, {LargeImageOptions.DefaultUntiledPixelLimit:N0} untiled)." };
        var output = new Option<string>("--out") { Description = "Folder for the PNGs and manifest.json (created if missing).", Required = true };
        var json = new Option<bool>("--json") { Description = "Write the manifest to stdout as JSON too." };
        var command = new Command("tiles", "Read regions of a large image (lazily: only the tiles needed are decoded) and write them with a manifest.")
        {
            image, region, grid, area, order, edge, maxRegions, pixelLimit, output, json,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string? regionText = parse.GetValue(region);
            string? gridText = parse.GetValue(grid);
            if ((regionText is null) == (gridText is null))
            {
                throw new VideoLongException("Give exactly one of --region X,Y,W,H or --grid REGION_PX[,CHUNK_PX].");
            }

            var options = new LargeImageOptions
            {
                PixelLimit = parse.GetValue(pixelLimit) ?? LargeImageOptions.DefaultPixelLimit,
                UntiledPixelLimit = parse.GetValue(pixelLimit) is { } limit ? Math.Min(limit, LargeImageOptions.DefaultUntiledPixelLimit) : LargeImageOptions.DefaultUntiledPixelLimit,
            };
            string outDir = FramesCommand.PrepareOutput(parse.GetRequiredValue(output));
            using LargeImage img = LargeImage.Open(parse.GetRequiredValue(image), options);

            // A single region is read as it is; grid cells through the grid (padding past the edge reads as zeros).
            List<(GridCell? Cell, PixelBox Box)> cells;
            if (regionText is not null)
            {
                cells = [(null, ParseBox(regionText, "--region"))];
            }
            else
            {
                (int regionPx, int chunkPx) = ParseGrid(gridText!);
                PixelBox gridArea = parse.GetValue(area) is { } a ? ParseBox(a, "--area") : img.Bounds;
                RegionGrid layout = RegionGrid.Create(img.Width, img.Height, gridArea, regionPx, chunkPx, ParseOrder(parse.GetValue(order)!), ParseEdge(parse.GetValue(edge)!));
                int max = parse.GetValue(maxRegions);
                if (layout.Count > max)
                {
                    throw new VideoLongException($"The grid has {layout.Count} regions ({layout.Rows}×{layout.Columns}), more than --max-regions {max}. Raise --max-regions or choose a smaller --area.");
                }

                cells = layout.Cells.Select(c => ((GridCell?)c, c.Box)).ToList();
            }

            ProgressBar bar = cli.Progress("tiles");
            var entries = new List<RegionEntry>(cells.Count);
            foreach ((GridCell? cell, PixelBox box) in cells)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int index = cell?.Index ?? 0;
                string name = string.Create(CultureInfo.InvariantCulture, $"region_{index:D5}_x{box.X}_y{box.Y}.png");
                ImageRegion pixels = cell is null ? img.ReadRegion(box) : img.ReadRegion(cell);
                pixels.SavePng(Path.Combine(outDir, name));
                entries.Add(new RegionEntry(index, cell?.Row ?? 0, cell?.Column ?? 0, BoxView.From(box),
                    cell is { IsPadded: true } ? BoxView.From(cell.Valid) : null, name,
                    cell?.Chunks.Select(c => new ChunkEntry(c.Index, c.Row, c.Column, BoxView.From(c.Box))).ToArray() ?? [],
                    img.Geo is { } geo ? MapView.From(geo, box) : null));
                bar.Report((entries.Count, cells.Count));
            }

            bar.Finish();
            var manifest = new TilesManifest(ImageView.From(img), entries);
            await File.WriteAllTextAsync(Path.Combine(outDir, ManifestName), JsonSerializer.Serialize(manifest, CliContext.Json), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(manifest).ConfigureAwait(false);
            }
            else
            {
                await cli.Out.WriteLineAsync($"{entries.Count} region(s) of {img.Width}x{img.Height} {img.Format}{(img.Geo is { Epsg: { } epsg } ? $" (EPSG:{epsg})" : "")} → {outDir}").ConfigureAwait(false);
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    private static PixelBox ParseBox(string text, string option)
    {
        try
        {
            return PixelBox.Parse(text);
        }
        catch (FormatException e)
        {
            throw new VideoLongException($"Invalid {option}: {e.Message}", e);
        }
    }

    internal static (int Region, int Chunk) ParseGrid(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r > 0
            && (parts.Length == 1 || (int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int c0) && c0 > 0)))
        {
            int c = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : r;
            return (r, c);
        }

        throw new VideoLongException($"Invalid --grid '{text}': expected REGION_PX or REGION_PX,CHUNK_PX with positive integers (the chunk size dividing the region size), e.g. 1024,256.");
    }

    private static GridOrder ParseOrder(string text) => text switch
    {
        "raster" => GridOrder.Raster,
        "zigzag" => GridOrder.ZigZag,
        _ => throw new VideoLongException($"Invalid --order '{text}': accepted values are raster, zigzag."),
    };

    private static GridEdgePolicy ParseEdge(string text) => text switch
    {
        "pad" => GridEdgePolicy.Pad,
        "shift" => GridEdgePolicy.Shift,
        "drop" => GridEdgePolicy.Drop,
        _ => throw new VideoLongException($"Invalid --edge '{text}': accepted values are pad, shift, drop."),
    };

    internal sealed record BoxView(int X, int Y, int Width, int Height)
    {
        public static BoxView From(PixelBox b) => new(b.X, b.Y, b.Width, b.Height);
    }

    internal sealed record ChunkEntry(int Index, int Row, int Column, BoxView Box);

    internal sealed record MapView(int? Epsg, double[][] Corners, double MinX, double MinY, double MaxX, double MaxY)
    {
        public static MapView From(GeoReference geo, PixelBox box)
        {
            MapBounds bounds = geo.MapBoundsOf(box);
            return new MapView(geo.Epsg, geo.MapCornersOf(box).Select(p => new[] { p.X, p.Y }).ToArray(), bounds.MinX, bounds.MinY, bounds.MaxX, bounds.MaxY);
        }
    }

    internal sealed record RegionEntry(int Index, int Row, int Column, BoxView Box, BoxView? Valid, string File, IReadOnlyList<ChunkEntry> Chunks, MapView? Map);

    internal sealed record GeoView(int? Epsg, double[] Transform, string RasterType);

    internal sealed record ImageView(string Path, string Format, int Width, int Height, int Bands, bool Tiled, int Levels, GeoView? Geo)
    {
        public static ImageView From(LargeImage img) => new(img.Path, img.Format, img.Width, img.Height, img.Bands, img.IsTiled, img.LevelCount,
            img.Geo is { } g ? new GeoView(g.Epsg, g.Transform.ToArray(), g.RasterType.ToString()) : null);
    }

    internal sealed record TilesManifest(ImageView Image, IReadOnlyList<RegionEntry> Regions);
}
