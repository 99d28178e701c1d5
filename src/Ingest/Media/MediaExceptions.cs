namespace VideoLong.Ingest;

/// <summary>The path names nothing, or names something that is not a regular file (a directory, a device).</summary>
public sealed class MediaNotFoundException(string path, string message) : VideoLongException(message)
{
    public string Path { get; } = path;
}

/// <summary>The file exists but is not a readable media file of an accepted kind (empty, random bytes, truncated, corrupt).</summary>
public sealed class InvalidMediaException(string path, string message, Exception? innerException = null)
    : VideoLongException(message, innerException)
{
    public string Path { get; } = path;
}

/// <summary>The container holds no video stream (for example an audio-only file).</summary>
public sealed class NoVideoStreamException(string path, string message) : VideoLongException(message)
{
    public string Path { get; } = path;
}

/// <summary>The video stream holds no decodable frame.</summary>
public sealed class EmptyVideoException(string path, string message) : VideoLongException(message)
{
    public string Path { get; } = path;
}

/// <summary>The video's codec has no decoder in the installed FFmpeg.</summary>
public sealed class UnsupportedCodecException(string path, string codec, string message) : VideoLongException(message)
{
    public string Path { get; } = path;

    public string Codec { get; } = codec;
}

/// <summary>Decoding failed part-way; <see cref="PtsSeconds"/> is the last timestamp delivered, if any.</summary>
public sealed class DecodeException(string path, double? ptsSeconds, string message, Exception? innerException = null)
    : VideoLongException(message, innerException)
{
    public string Path { get; } = path;

    public double? PtsSeconds { get; } = ptsSeconds;
}

/// <summary>A required external tool (ffmpeg, ffprobe) is not installed or not runnable.</summary>
public sealed class MediaToolMissingException(string tool, string message) : VideoLongException(message)
{
    public string Tool { get; } = tool;
}

/// <summary>An external tool ran past its time limit (or stopped producing output) and was killed with its children.</summary>
public sealed class MediaToolTimeoutException(string tool, TimeSpan timeout, string message) : VideoLongException(message)
{
    public string Tool { get; } = tool;

    public TimeSpan Timeout { get; } = timeout;
}

/// <summary>A sampling request lies outside what the video offers (a time range, a frame count) under <see cref="OutOfRangePolicy.Error"/>.</summary>
public sealed class SamplingRangeException(string message) : VideoLongException(message);

/// <summary>An image could not be opened or decoded (unknown format, corrupt or truncated data).</summary>
public sealed class ImageDecodeException(string path, string message, Exception? innerException = null)
    : VideoLongException(message, innerException)
{
    public string Path { get; } = path;
}

/// <summary>An image's header claims more pixels than the configured limit (decompression-bomb guard).</summary>
public sealed class ImageTooLargeException(string path, long width, long height, long pixelLimit, string message)
    : VideoLongException(message)
{
    public string Path { get; } = path;

    public long Width { get; } = width;

    public long Height { get; } = height;

    public long PixelLimit { get; } = pixelLimit;
}

/// <summary>A requested region or grid does not fit the image.</summary>
public sealed class RegionOutOfBoundsException(string message) : VideoLongException(message);
