using VideoLong.Ingest;
using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Training;

/// <summary>Real-footage frames for <see cref="SyntheticVideos"/>: every PNG/JPEG of a folder in name order, as RGB24 at the frame size.</summary>
public static class BackgroundFrames
{
    /// <summary>At most this many frames are read (about 12 KB each at 64 px).</summary>
    public const int MaxFrames = 20_000;

    public static IReadOnlyList<byte[]> Load(string folder, int size)
    {
        if (!Directory.Exists(folder))
        {
            throw new VideoLongException($"Backgrounds folder '{folder}' does not exist (a folder of PNG/JPEG frames, e.g. written by `videolong frames`).");
        }

        string[] files = Directory.EnumerateFiles(folder)
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg")
            .Order(StringComparer.Ordinal).Take(MaxFrames).ToArray();
        if (files.Length == 0)
        {
            throw new VideoLongException($"Backgrounds folder '{folder}' holds no .png/.jpg/.jpeg frames.");
        }

        var frames = new byte[files.Length][];
        for (int i = 0; i < files.Length; i++)
        {
            using VideoFrame frame = NiahFrames.FromImageFile(files[i], size, "Background frame");
            frames[i] = frame.Rgb24.ToArray();
        }

        return frames;
    }
}
