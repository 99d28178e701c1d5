using System.Diagnostics;
using System.Globalization;
using NetVips;
using VideoLong.Ingest;
using VideoLong.Ingest.Images;
using TorchSharp;
using static TorchSharp.torch;
using PixelBox = VideoLong.Ingest.Images.PixelBox;

namespace VideoLong.Pipeline.Niah;

/// <summary>
/// Needle in a gigapixel haystack: the image is read region by region through the Ingest region grid (raster order),
/// each region one frame of tokens; the needle patch is placed at a chosen position. The needle-free regions of each
/// size are encoded once; for each position only the clips holding the needle are encoded again.
/// </summary>
/// <remarks>
/// The background is a large image file (tiled/pyramidal TIFF, …, opened lazily with <see cref="LargeImage"/>) or, when
/// none is given, a procedural image (three Perlin-noise bands from the seed) that libvips evaluates only for the
/// regions read — a 40000² haystack never exists as a buffer.
/// </remarks>
internal sealed class ImageNiahRunner(INiahModel model)
{
    public async Task<NiahRunResult> RunAsync(NiahConfig config, bool quick, IProgress<NiahProgress>? progress, CancellationToken cancellationToken)
    {
        NiahImageSettings settings = config.Image!;
        DateTimeOffset started = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        NiahModelInfo info = model.Info;
        int clip = info.ClipLength;
        var trials = new List<NiahTrial>();
        int haystackFrames = 0, needleFrames = 0;
        double encodeSeconds = 0;
        int total = settings.Sizes.Count * settings.Positions.Count * config.Needles.Count, done = 0;

        // Needle patches (RGB, needleSize²), made once.
        var patches = config.Needles.Select(n => Patch(config, n, settings.NeedleSize)).ToArray();
        foreach (int size in settings.Sizes)
        {
            using IRegionSource background = settings.Background is { } path ? new FileRegions(config.Resolve(path), size) : new ProceduralRegions(size, config.Seed);
            int width = background.Width, height = background.Height;
            RegionGrid grid = RegionGrid.Create(width, height, Math.Min(settings.RegionSize, Math.Min(width, height)), Math.Min(settings.RegionSize, Math.Min(width, height)),
                GridOrder.Raster, GridEdgePolicy.Shift);
            int regions = grid.Count;
            int padded = (regions + clip - 1) / clip * clip;
            var encodeWatch = Stopwatch.StartNew();
            progress?.Report(new NiahProgress($"image {width}×{height}", 0, regions));
            var frames = new List<VideoFrame>(padded);
            foreach (GridCell cell in grid.Cells)
            {
                cancellationToken.ThrowIfCancellationRequested();
                frames.Add(Frame(background.Read(cell.Box), cell.Box, null, default, info.FrameSize));
            }

            while (frames.Count < padded)
            {
                frames.Add(frames[^1]);
            }

            using NiahVisualTokens haystack = await model.EncodeFramesAsync(frames, cancellationToken).ConfigureAwait(false);
            haystackFrames += padded;
            encodeSeconds += encodeWatch.Elapsed.TotalSeconds;

            for (int p = 0; p < settings.Positions.Count; p++)
            {
                (double fx, double fy) = (settings.Positions[p][0], settings.Positions[p][1]);
                PixelBox needleBox = NeedleBox(width, height, settings.NeedleSize, fx, fy);
                int[] touched = grid.Cells.Where(c => Overlaps(c.Box, needleBox)).Select(c => c.Index).ToArray();
                int[] clips = touched.Select(i => i / clip).Distinct().Order().ToArray();
                for (int n = 0; n < config.Needles.Count; n++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var trialWatch = Stopwatch.StartNew();
                    using DisposeScope scope = NewDisposeScope();
                    Tensor blocks = haystack.Blocks.clone();                                // [R, t, H]
                    foreach (int c in clips)
                    {
                        var clipFrames = new List<VideoFrame>(clip);
                        for (int i = c * clip; i < (c + 1) * clip; i++)
                        {
                            GridCell cell = grid.Cells[Math.Min(i, regions - 1)];
                            clipFrames.Add(Frame(background.Read(cell.Box), cell.Box, patches[n], needleBox, info.FrameSize));
                        }

                        using NiahVisualTokens encoded = await model.EncodeFramesAsync(clipFrames, cancellationToken).ConfigureAwait(false);
                        needleFrames += clip;
                        blocks.narrow(0, c * clip, clip).copy_(encoded.Blocks.to(blocks.dtype));
                    }

                    Tensor visual = cat([blocks.narrow(0, 0, regions).reshape(-1, blocks.shape[2]), haystack.Trailer], 0);
                    NiahNeedle needle = config.Needles[n];
                    NiahTrial asked = await NiahRunner.AskAsync(model, config, needle, visual, cancellationToken).ConfigureAwait(false);
                    trials.Add(asked with
                    {
                        Frames = size,
                        Depth = p,
                        Needle = needle.Name ?? $"needle-{n + 1}",
                        InsertedBefore = touched.Length > 0 ? touched[0] : 0,
                        Part = $"needle at ({needleBox.X}, {needleBox.Y}) {needleBox.Width}×{needleBox.Height} px in regions {string.Join(' ', touched)} of {regions}",
                        Seconds = trialWatch.Elapsed.TotalSeconds,
                    });
                    progress?.Report(new NiahProgress("trials", ++done, total));
                }
            }
        }

        var provenance = new NiahHaystackProvenance
        {
            Source = settings.Background is { } bg ? config.Resolve(bg) : $"procedural Perlin image (seed {config.Seed})",
            Decoder = $"libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)}.{NetVips.NetVips.Version(2)}; region grid {settings.RegionSize} px, raster order",
            Sampling = $"regions of {settings.RegionSize} px",
            SampledTimestamps = [],
            EncodedFrames = haystackFrames,
        };
        return NiahRunner.Result(config, quick, info, provenance, new NiahEncodingStats
        {
            HaystackFrames = haystackFrames,
            HaystackFromCache = false,
            HaystackCacheKey = "",
            NeedleFrames = needleFrames,
            EncodeSeconds = encodeSeconds,
        }, settings.Sizes, Enumerable.Range(0, settings.Positions.Count).Select(i => (double)i).ToArray(), trials, [], started, watch)
            with
            {
                XLabel = "Image side (px)",
                YLabel = "Needle position (x, y)",
                YTickLabels = settings.Positions.Select(p => string.Create(CultureInfo.InvariantCulture, $"({p[0]:0.##}, {p[1]:0.##})")).ToArray(),
            };
    }

    /// <summary>The needle's box: centred at (fx·W, fy·H), moved inside the image.</summary>
    internal static PixelBox NeedleBox(int width, int height, int side, double fx, double fy)
    {
        int x = Math.Clamp((int)Math.Round((fx * width) - (side / 2.0)), 0, width - side);
        int y = Math.Clamp((int)Math.Round((fy * height) - (side / 2.0)), 0, height - side);
        return new PixelBox(x, y, side, side);
    }

    private static bool Overlaps(PixelBox a, PixelBox b) => a.X < b.Right && b.X < a.Right && a.Y < b.Bottom && b.Y < a.Bottom;

    private static byte[] Patch(NiahConfig config, NiahNeedle needle, int side)
    {
        VideoFrame frame = needle.Image is { } image ? NiahFrames.FromImageFile(config.Resolve(image), side) : NiahFrames.RenderText(needle, side);
        return frame.Rgb24;
    }

    /// <summary>A region's pixels with the needle patch drawn over the part of it that falls in the region, resized to a frame.</summary>
    private static VideoFrame Frame(byte[] region, PixelBox box, byte[]? patch, PixelBox needle, int size)
    {
        if (patch is not null && Overlaps(box, needle))
        {
            region = (byte[])region.Clone();
            int x0 = Math.Max(box.X, needle.X), x1 = Math.Min(box.Right, needle.Right);
            int y0 = Math.Max(box.Y, needle.Y), y1 = Math.Min(box.Bottom, needle.Bottom);
            for (int y = y0; y < y1; y++)
            {
                int src = (((y - needle.Y) * needle.Width) + (x0 - needle.X)) * 3;
                int dst = (((y - box.Y) * box.Width) + (x0 - box.X)) * 3;
                Buffer.BlockCopy(patch, src, region, dst, (x1 - x0) * 3);
            }
        }

        return NiahFrames.FromRgb(region, box.Width, box.Height, size);
    }

    private interface IRegionSource : IDisposable
    {
        int Width { get; }

        int Height { get; }

        byte[] Read(PixelBox box);
    }

    /// <summary>The top-left <c>size</c>² of a large image file (all of it when smaller), read lazily through Ingest.</summary>
    private sealed class FileRegions(string path, int size) : IRegionSource
    {
        private readonly LargeImage _image = File.Exists(path) ? LargeImage.Open(path) : throw new VideoLongException($"NIAH image background '{path}' does not exist.");

        public int Width => Math.Min(size, _image.Width);

        public int Height => Math.Min(size, _image.Height);

        public byte[] Read(PixelBox box) => _image.ReadRegion(box).Pixels;

        public void Dispose() => _image.Dispose();
    }

    /// <summary>A procedural RGB image of side <c>size</c> (Perlin noise per band); libvips computes only the regions read.</summary>
    private sealed class ProceduralRegions : IRegionSource
    {
        private readonly Image _image;

        public ProceduralRegions(int size, long seed)
        {
            int s = unchecked((int)seed);
            using Image r = Image.Perlin(size, size, cellSize: 257, uchar: true, seed: s);
            using Image g = Image.Perlin(size, size, cellSize: 331, uchar: true, seed: s + 1);
            using Image b = Image.Perlin(size, size, cellSize: 409, uchar: true, seed: s + 2);
            _image = r.Bandjoin(g, b);
            Width = size;
            Height = size;
        }

        public int Width { get; }

        public int Height { get; }

        public byte[] Read(PixelBox box)
        {
            using Image crop = _image.Crop(box.X, box.Y, box.Width, box.Height);
            return crop.WriteToMemory<byte>();
        }

        public void Dispose() => _image.Dispose();
    }
}
