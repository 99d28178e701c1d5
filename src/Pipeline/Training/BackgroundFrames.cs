using NetVips;
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
            try
            {
                using Image image = Image.NewFromFile(files[i], access: Enums.Access.Sequential);
                (byte[] rgb, int w, int h) = NiahFrames.ToRgb(image);
                frames[i] = NiahFrames.FromRgb(rgb, w, h, size).Rgb24;
            }
            catch (VipsException e)
            {
                throw new VideoLongException($"Background frame '{files[i]}' cannot be read as an image: {e.Message.Split('\n')[0]}", e);
            }
        }

        return frames;
    }
}
