using System.Diagnostics;
using VideoLong.Ingest.Images;

namespace VideoLong.Bench;

/// <summary>Region reads from a large image: the first read in a fresh process, then reads at random places, then a repeat.</summary>
internal static class RegionBench
{
    public static void Run(string file, int size, int reads)
    {
        var sw = Stopwatch.StartNew();
        using LargeImage image = LargeImage.Open(file);
        double open = sw.Elapsed.TotalMilliseconds;
        var center = new PixelBox((image.Width - size) / 2, (image.Height - size) / 2, size, size);
        sw.Restart();
        ImageRegion first = image.ReadRegion(center);
        double cold = sw.Elapsed.TotalMilliseconds;
        Console.WriteLine($"{image.Width}x{image.Height} {image.Format}, tiles {image.TileWidth}x{image.TileHeight}, {image.LevelCount} levels");
        Console.WriteLine($"open {open:0.0} ms; first {size}² region {cold:0.0} ms ({first.Pixels.Length} bytes); peak RSS so far {Machine.PeakRssMiB():0.0} MiB");

        var random = new Random(1);
        var times = new List<double>();
        for (int i = 0; i < reads; i++)
        {
            var box = new PixelBox(random.Next(image.Width - size), random.Next(image.Height - size), size, size);
            sw.Restart();
            image.ReadRegion(box);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }

        sw.Restart();
        image.ReadRegion(center);
        double repeat = sw.Elapsed.TotalMilliseconds;
        times.Sort();
        Console.WriteLine($"{reads} random {size}² regions: median {times[times.Count / 2]:0.0} ms, max {times[^1]:0.0} ms; repeat of the first region {repeat:0.0} ms");
        Console.WriteLine($"peak RSS {Machine.PeakRssMiB():0.0} MiB");
    }
}
