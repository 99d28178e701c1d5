using System.Text.Json;
using TorchSharp;
using VideoLong.Ingest;

namespace VideoLong.Vision;

/// <summary>Turns decoded frames into a vision tower's pixel tensor, normalised as the checkpoint's processor says.</summary>
public static class VisionInputs
{
    private static readonly string[] VideoFirst = ["video_preprocessor_config.json", "preprocessor_config.json"];
    private static readonly string[] ImageFirst = ["preprocessor_config.json", "video_preprocessor_config.json"];

    /// <summary>
    /// The normalisation in a model folder's <c>preprocessor_config.json</c> (or <c>video_preprocessor_config.json</c>):
    /// its <c>image_mean</c> and <c>image_std</c>; SigLIP's (0.5, 0.5) when the folder has none.
    /// </summary>
    public static PixelNormalization NormalizationFor(string modelDirectory, bool forVideo = true)
    {
        foreach (string name in forVideo ? VideoFirst : ImageFirst)
        {
            string path = Path.Combine(modelDirectory, name);
            if (!File.Exists(path))
            {
                continue;
            }

            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.TryGetProperty("image_mean", out JsonElement mean) && doc.RootElement.TryGetProperty("image_std", out JsonElement std))
            {
                float[] m = mean.EnumerateArray().Select(x => x.GetSingle()).ToArray();
                float[] s = std.EnumerateArray().Select(x => x.GetSingle()).ToArray();
                if (m.Length != 3 || s.Length != 3 || s.Any(v => !(v > 0)))
                {
                    throw new VideoLongException($"'{path}': image_mean and image_std must hold 3 values each, std > 0.");
                }

                return new PixelNormalization(m, s);
            }
        }

        return PixelNormalization.Siglip;
    }

    /// <summary>Frames (all W×H RGB24) → [1, F, 3, H, W] normalised floats, in <paramref name="dtype"/> on <paramref name="device"/>.</summary>
    public static torch.Tensor VideoPixels(IReadOnlyList<VideoFrame> frames, PixelNormalization normalization, torch.Device device, torch.ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new VideoLongException("A video needs at least one frame.");
        }

        int w = frames[0].Width, h = frames[0].Height;
        if (frames.Any(f => f.Width != w || f.Height != h))
        {
            throw new VideoLongException("All frames of a video must have the same size.");
        }

        int perFrame = 3 * w * h;
        float[] data = new float[frames.Count * perFrame];
        for (int i = 0; i < frames.Count; i++)
        {
            PixelNormalizer.ToPlanar(frames[i].Rgb24, w, h, normalization, data.AsSpan(i * perFrame, perFrame));
        }

        using torch.Tensor cpu = torch.tensor(data, [1, frames.Count, 3, h, w]);
        return cpu.to(dtype).to(device);
    }
}
