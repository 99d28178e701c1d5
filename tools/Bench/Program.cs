using System.Diagnostics;
using System.Globalization;
using VideoLong.Bench;
using VideoLong.Ingest;

// videolong-bench decode FILE [--fps 1] [--size 448x448] [--runs 3]   our 1-fps sequential decode vs the ffmpeg CLI (same filters)
// videolong-bench keyframes FILE [--fps 1]                            keyframe-only vs sequential: speed-up and timestamps
// videolong-bench rss FILE [--fps 1] [--size 448x448]                 peak RSS (this process + its ffmpeg) decoding at 1 fps
// videolong-bench region FILE [--size 1024] [--reads 20]              region reads from a large image: cold/warm time, peak RSS
// videolong-bench vlm - --frames N [--no-merge]                      long-video question: HiCo merge, prefill, dropping (GPU)
// videolong-bench ttft FILE --model DIR [--tokenizer DIR] [--frames 16] [--runs 5]  time to the first answer token, second question on an encoded video
// videolong-bench models - [--quick]                                   Qwen2-0.5B prefill/decode and SigLIP-so400m throughput (GPU)
// videolong-bench mmsp --devices cuda:0,cuda:1 --tokens N [--ulysses P_u] [--kernel fused|explicit] [--generate N] [--layers 24] [--hidden 896] [--no-single]   sequence-parallel prefill (issue 8)
// videolong-bench bus FILE --model DIR [--tokenizer DIR] [--jobs 16] [--frames 4] [--rabbitmq URI]   jobs/s and bus overhead per stage
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: videolong-bench decode|keyframes|rss|region FILE [options]");
    return 2;
}

string verb = args[0];
string file = args[1];
string Opt(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

double fps = double.Parse(Opt("--fps", "1"), CultureInfo.InvariantCulture);
(int w, int h) = FrameFormat.ParseSize(Opt("--size", "448x448"));
var format = FrameFormat.Model(w, h, ResizeMode.Stretch);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Machine.CpuModel()}, .NET {Environment.Version}");

switch (verb)
{
    case "decode":
    {
        int runs = int.Parse(Opt("--runs", "3"), CultureInfo.InvariantCulture);
        var ours = new List<double>();
        var cli = new List<double>();
        for (int r = 0; r < runs; r++)
        {
            (double s, int n) = await Measure.OursAsync(file, fps, format, DecodeMode.Sequential);
            ours.Add(s);
            (double c, int m) = Measure.FfmpegCli(file, $"fps={fps.ToString(CultureInfo.InvariantCulture)},scale={w}:{h},setsar=1,format=rgb24", w * h * 3);
            cli.Add(c);
            Console.WriteLine($"run {r + 1}: ours {s:0.00} s ({n} frames), ffmpeg CLI {c:0.00} s ({m} frames)");
        }

        double o = ours.Order().ElementAt(runs / 2), f = cli.Order().ElementAt(runs / 2);
        Console.WriteLine($"median: ours {o:0.00} s, ffmpeg CLI {f:0.00} s, ratio {o / f:0.000}");
        break;
    }

    case "keyframes":
    {
        (double seq, int n1, double[] t1) = await Measure.OursWithTimesAsync(file, fps, format, DecodeMode.Sequential, approximate: false);
        (double key, int n2, double[] t2) = await Measure.OursWithTimesAsync(file, fps, format, DecodeMode.KeyframesOnly, approximate: true);
        Console.WriteLine($"sequential: {seq:0.00} s, {n1} frames, first timestamps {string.Join(", ", t1.Take(8).Select(x => x.ToString("0.###", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"keyframes:  {key:0.00} s, {n2} frames, first timestamps {string.Join(", ", t2.Take(8).Select(x => x.ToString("0.###", CultureInfo.InvariantCulture)))}");
        Console.WriteLine($"distinct keyframes returned: {t2.Distinct().Count()}; speed-up {seq / key:0.0}x");
        break;
    }

    case "rss":
    {
        // FFmpeg runs through /usr/bin/time (Debian package `time`), which records each run's peak RSS exactly; this
        // process's own peak is its VmHWM. Nothing polls, so the measurement allocates nothing itself.
        string log = Path.Combine(Path.GetTempPath(), $"videolong-bench-ffmpeg-{Environment.ProcessId}.rss");
        string wrapper = Path.Combine(Path.GetTempPath(), $"videolong-bench-ffmpeg-{Environment.ProcessId}.sh");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec /usr/bin/time -a -o {log} -f %M ffmpeg \"$@\"\n");
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Environment.SetEnvironmentVariable("VIDEOLONG_FFMPEG", wrapper);
        (double s, int n) = await Measure.OursAsync(file, fps, format, null);
        double ffmpegMiB = File.ReadAllLines(log).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).Max() / 1024.0;
        Console.WriteLine($"allocated {GC.GetTotalAllocatedBytes() / 1048576.0:0.0} MiB in all; GCs gen0/1/2: {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
        Console.WriteLine($"decoded {n} frames in {s:0.00} s; peak RSS: this process {Machine.PeakRssMiB():0.0} MiB, ffmpeg {ffmpegMiB:0.0} MiB, sum {Machine.PeakRssMiB() + ffmpegMiB:0.0} MiB");
        Console.WriteLine($"managed heap retained after the decode (after a full collection): {GC.GetTotalMemory(forceFullCollection: true) / 1048576.0:0.0} MiB");
        File.Delete(log);
        File.Delete(wrapper);
        break;
    }

    case "models":
        ModelBench.Run(quick: args.Contains("--quick"));
        break;

    case "vlm":
        VlmBench.Run(int.Parse(Opt("--frames", "64"), CultureInfo.InvariantCulture), merge: !args.Contains("--no-merge"),
            tokensPerFrame: int.Parse(Opt("--tokens-per-frame", "16"), CultureInfo.InvariantCulture));
        break;

    case "bus":
        await BusBench.RunAsync(Path.GetFullPath(file), Path.GetFullPath(Opt("--model", "tests/fixtures/reference/llava_onevision")),
            args.Contains("--tokenizer") ? Path.GetFullPath(Opt("--tokenizer", "")) : null, int.Parse(Opt("--jobs", "16"), CultureInfo.InvariantCulture),
            int.Parse(Opt("--frames", "4"), CultureInfo.InvariantCulture), args.Contains("--rabbitmq") ? Opt("--rabbitmq", "rabbitmq://127.0.0.1") : null);
        break;

    case "mmsp":
        MmspBench.Run(args);
        break;

    case "siglip-stages":
        ModelBench.RunSiglipStages();
        break;

    case "ttft":
        await TtftBench.RunAsync(file, Opt("--model", "tests/fixtures/reference/llava_onevision"), Opt("--tokenizer", "") is { Length: > 0 } tok ? tok : null,
            int.Parse(Opt("--frames", "16"), CultureInfo.InvariantCulture), int.Parse(Opt("--runs", "5"), CultureInfo.InvariantCulture),
            int.Parse(Opt("--max-new-tokens", "32"), CultureInfo.InvariantCulture));
        break;

    case "region":
    {
        int size = int.Parse(Opt("--size", "1024"), CultureInfo.InvariantCulture);
        int reads = int.Parse(Opt("--reads", "20"), CultureInfo.InvariantCulture);
        RegionBench.Run(file, size, reads);
        break;
    }

    default:
        Console.Error.WriteLine($"unknown verb {verb}");
        return 2;
}

return 0;

namespace VideoLong.Bench
{
    internal static class Measure
    {
        public static async Task<(double Seconds, int Frames)> OursAsync(string file, double fps, FrameFormat format, DecodeMode? mode)
        {
            (double s, int n, _) = await OursWithTimesAsync(file, fps, format, mode, approximate: false);
            return (s, n);
        }

        public static async Task<(double Seconds, int Frames, double[] Times)> OursWithTimesAsync(string file, double fps, FrameFormat format, DecodeMode? mode, bool approximate)
        {
            var sw = Stopwatch.StartNew();
            var decoder = await VideoDecoder.OpenAsync(file, new DecoderOptions { Planner = new PlannerOptions { Force = mode, AllowApproximate = approximate } });
            var times = new List<double>();
            long checksum = 0;
            await foreach (VideoFrame frame in decoder.DecodeAsync(FrameSamplers.Fps(decoder.Metadata.Timeline, fps), format))
            {
                times.Add(frame.PtsSeconds);
                checksum += frame.Rgb24[frame.Rgb24.Length / 2];
                frame.Dispose();
            }

            GC.KeepAlive(checksum);
            return (sw.Elapsed.TotalSeconds, times.Count, times.ToArray());
        }

        /// <summary>The ffmpeg CLI alone: the same input, filters and raw RGB output, read from its stdout and discarded.</summary>
        public static (double Seconds, int Frames) FfmpegCli(string file, string filters, int frameBytes)
        {
            var sw = Stopwatch.StartNew();
            var info = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "-hide_banner", "-nostats", "-loglevel", "error", "-i", file, "-an", "-vf", filters, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1" })
            {
                info.ArgumentList.Add(a);
            }

            using Process p = Process.Start(info)!;
            _ = p.StandardError.ReadToEndAsync();
            byte[] buffer = new byte[1 << 20];
            long total = 0;
            int read;
            while ((read = p.StandardOutput.BaseStream.Read(buffer)) > 0)
            {
                total += read;
            }

            p.WaitForExit();
            return (sw.Elapsed.TotalSeconds, (int)(total / frameBytes));
        }
    }

    internal static class Machine
    {
        public static string CpuModel() =>
            File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";

        public static double PeakRssMiB() => StatusKiB("/proc/self/status", "VmHWM:") / 1024.0;

        public static double StatusKiB(string path, string key)
        {
            try
            {
                string? line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
                return line is null ? 0 : double.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return 0;
            }
        }
    }
}
