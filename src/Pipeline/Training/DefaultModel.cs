namespace VideoLong.Pipeline.Training;

/// <summary>
/// Where VideoLong-Tiny, the model used when no --model is given, lives: $VIDEOLONG_MODEL, else
/// <c>models/videolong-tiny</c> in the working folder or above it, else beside or above the executable.
/// </summary>
public static class DefaultModel
{
    public const string RelativePath = "models/videolong-tiny";

    public static string Resolve()
    {
        if (Environment.GetEnvironmentVariable("VIDEOLONG_MODEL") is { Length: > 0 } configured)
        {
            return Path.GetFullPath(configured);
        }

        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, RelativePath);
                if (File.Exists(Path.Combine(candidate, "config.json")))
                {
                    return candidate;
                }
            }
        }

        throw new VideoLongException($"No --model given and the default model ({RelativePath}) was not found in the working folder, above it, or beside the executable; set VIDEOLONG_MODEL or pass --model DIR.");
    }
}
