using System.Diagnostics;

namespace VideoLong.Testing;

/// <summary>Runs the FFmpeg CLI in tests: to make media from lavfi sources and to produce reference frames.</summary>
internal static class Tool
{
    public static string Run(string tool, params string[] args) => Encoding(RunBytes(tool, args));

    public static byte[] RunBytes(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using Process p = Process.Start(info)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        using var ms = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(ms);
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} timed out");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} failed: {err.Result}");
        }

        return ms.ToArray();
    }

    private static string Encoding(byte[] bytes) => System.Text.Encoding.UTF8.GetString(bytes);
}

/// <summary>A temporary folder for media that tests make with FFmpeg; deleted afterwards.</summary>
public class TempMedia : IDisposable
{
    public TempMedia() => Directory.CreateDirectory(Root);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "videolong-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public string PathOf(string name) => System.IO.Path.Combine(Root, name);

    /// <summary>Runs <c>ffmpeg -v error -y ARGS PATH</c> and returns PATH.</summary>
    public string Make(string name, params string[] args)
    {
        string path = PathOf(name);
        Tool.Run("ffmpeg", ["-v", "error", "-y", .. args, path]);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>Small videos made once per test run with FFmpeg's lavfi sources (shared by the video tests).</summary>
public sealed class TestVideos : TempMedia
{
    public TestVideos()
    {
        // 4 s, 25 fps, keyframe every 10 frames exactly (no scene-cut keyframes), B-frames, with audio.
        Mp4 = Make("h264.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-f", "lavfi", "-i", "sine=f=440",
            "-t", "4", "-c:v", "libx264", "-g", "10", "-keyint_min", "10", "-sc_threshold", "0", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest");
        Mkv = Make("h264.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30000/1001", "-t", "3", "-c:v", "libx264",
            "-g", "15", "-sc_threshold", "0", "-bf", "3", "-pix_fmt", "yuv420p");
        Webm = Make("vp8.webm", "-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24", "-t", "3", "-c:v", "libvpx", "-g", "12", "-b:v", "300k");
        Avi = Make("mpeg4.avi", "-f", "lavfi", "-i", "mandelbrot=size=128x96:rate=10", "-t", "5", "-c:v", "mpeg4", "-g", "8", "-q:v", "5");
        Rotated = Make("rotated.mp4", "-i", Mp4, "-c", "copy", "-metadata:s:v:0", "rotate=90");
        Anamorphic = Make("anamorphic.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "1", "-vf", "setsar=2/1",
            "-c:v", "libx264", "-pix_fmt", "yuv420p");
    }

    public string Mp4 { get; }

    public string Mkv { get; }

    public string Webm { get; }

    public string Avi { get; }

    public string Rotated { get; }

    public string Anamorphic { get; }
}

[CollectionDefinition(nameof(VideoCollection))]
public sealed class VideoCollection : ICollectionFixture<TestVideos>;
