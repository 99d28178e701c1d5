namespace VideoLong.Ingest;

/// <summary>Checks on a path before any tool touches it: it must exist, be a regular file and not be empty.</summary>
public static class MediaFile
{
    /// <summary>Returns the full path of <paramref name="path"/> after checking it names a non-empty regular file.</summary>
    /// <exception cref="MediaNotFoundException">Missing, a directory, or not a regular file.</exception>
    /// <exception cref="InvalidMediaException">The file is empty.</exception>
    public static string RequireReadableFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new MediaNotFoundException(full, $"'{path}' is a directory, not a media file. Give the path of a video or image file.");
        }

        var info = new FileInfo(full);
        if (!info.Exists)
        {
            throw new MediaNotFoundException(full, $"'{path}' does not exist.");
        }

        if (info.LinkTarget is not null)
        {
            // Resolve links so the checks below apply to what is actually read.
            FileSystemInfo? target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null || !target.Exists || target is DirectoryInfo)
            {
                throw new MediaNotFoundException(full, $"'{path}' is a link to something that is not a file.");
            }

            info = new FileInfo(target.FullName);
        }

        // Devices and pipes report a length of 0 and are refused here too.
        if (info.Length == 0)
        {
            throw new InvalidMediaException(full, $"'{path}' is empty (0 bytes).");
        }

        return full;
    }
}
