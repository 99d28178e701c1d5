using NetVips;

namespace VideoLong.Ingest;

/// <summary>Writes decoded frames as PNG (lossless, so the files hold exactly the decoded pixels).</summary>
public static class FramePng
{
    public static void Save(VideoFrame frame, string path)
    {
        ArgumentNullException.ThrowIfNull(frame);
        using Image image = Image.NewFromMemory(frame.Rgb24, frame.Width, frame.Height, 3, Enums.BandFormat.Uchar);
        image.Pngsave(path);
    }
}
