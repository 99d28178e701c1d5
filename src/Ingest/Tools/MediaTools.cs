using System.Collections.Concurrent;
using System.Text;

namespace VideoLong.Ingest.Tools;

/// <summary>
/// Where the FFmpeg tools are and what they can do. The executables are looked up on PATH unless
/// <c>VIDEOLONG_FFMPEG</c> / <c>VIDEOLONG_FFPROBE</c> name them. Results of capability queries are cached per process.
/// </summary>
public static class MediaTools
{
    public const string FfmpegEnvironmentVariable = "VIDEOLONG_FFMPEG";
    public const string FfprobeEnvironmentVariable = "VIDEOLONG_FFPROBE";

    private static readonly ConcurrentDictionary<string, Lazy<Task<HashSet<string>>>> s_decoders = new();

    /// <summary>The ffmpeg executable to run.</summary>
    public static string Ffmpeg => Environment.GetEnvironmentVariable(FfmpegEnvironmentVariable) is { Length: > 0 } v ? v : "ffmpeg";

    /// <summary>The ffprobe executable to run.</summary>
    public static string Ffprobe => Environment.GetEnvironmentVariable(FfprobeEnvironmentVariable) is { Length: > 0 } v ? v : "ffprobe";

    /// <summary>Runs a tool to completion and returns its stdout as text (bounded to <paramref name="maxBytes"/>).</summary>
    internal static async Task<(int ExitCode, string Stdout, string StderrTail)> RunAsync(string executable,
        IEnumerable<string> arguments, ToolLimits limits, CancellationToken cancellationToken, int maxBytes = 64 << 20)
    {
        await using ToolProcess process = ToolProcess.Start(executable, arguments, limits, null, cancellationToken);
        var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        int read;
        while ((read = await process.StandardOutput.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            process.Touch();
            if (buffer.Length + read > maxBytes)
            {
                throw new VideoLongException($"{Path.GetFileName(executable)} wrote more than {maxBytes >> 20} MiB of output; refusing to read more.");
            }

            buffer.Write(chunk, 0, read);
        }

        process.ThrowIfTimedOut();
        int exitCode = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return (exitCode, Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), process.StderrTail);
    }

    /// <summary>
    /// Runs a tool to completion, handing each line of its stdout to <paramref name="onLine"/> as it arrives (nothing is
    /// buffered, so output of any length costs constant memory). Returns the exit code and the stderr tail.
    /// </summary>
    internal static async Task<(int ExitCode, string StderrTail)> RunLinesAsync(string executable, IEnumerable<string> arguments,
        ToolLimits limits, Action<string> onLine, CancellationToken cancellationToken)
    {
        await using ToolProcess process = ToolProcess.Start(executable, arguments, limits, null, cancellationToken);
        using var reader = new StreamReader(process.StandardOutput, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 65536, leaveOpen: true);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            process.Touch();
            onLine(line);
        }

        process.ThrowIfTimedOut();
        int exitCode = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return (exitCode, process.StderrTail);
    }

    /// <summary>The first line of <c>TOOL -version</c>, e.g. "ffmpeg version 5.1.9-0+deb12u1 …".</summary>
    public static async Task<string> GetVersionAsync(string executable, CancellationToken cancellationToken)
    {
        (int exitCode, string stdout, string stderr) = await RunAsync(executable, ["-hide_banner", "-version"],
            new ToolLimits(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(20)), cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new MediaToolMissingException(Path.GetFileName(executable), $"'{executable} -version' failed (exit {exitCode}): {stderr}");
        }

        return stdout.Split('\n', 2)[0].Trim();
    }

    /// <summary>Whether the installed ffmpeg has a decoder for <paramref name="codecName"/> (an ffprobe codec_name).</summary>
    public static async Task<bool> HasDecoderAsync(string codecName, CancellationToken cancellationToken)
    {
        HashSet<string> decoders = await s_decoders.GetOrAdd(Ffmpeg,
            exe => new Lazy<Task<HashSet<string>>>(() => ListDecodersAsync(exe))).Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        return decoders.Contains(codecName);
    }

    private static async Task<HashSet<string>> ListDecodersAsync(string executable)
    {
        // `ffmpeg -codecs` lists codec names (as ffprobe reports them) with a D flag when any decoder exists.
        (int exitCode, string stdout, string stderr) = await RunAsync(executable, ["-hide_banner", "-codecs"],
            new ToolLimits(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)), CancellationToken.None).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new MediaToolMissingException(Path.GetFileName(executable), $"'{executable} -codecs' failed (exit {exitCode}): {stderr}");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        bool inTable = false;
        foreach (string raw in stdout.Split('\n'))
        {
            string line = raw.TrimEnd();
            if (line.StartsWith(" -------", StringComparison.Ordinal))
            {
                inTable = true;
                continue;
            }

            // " DEV.LS h264   H.264 / AVC ..." : flags column then the name
            if (inTable && line.Length > 8 && line[1] == 'D')
            {
                string rest = line[8..].TrimStart();
                int space = rest.IndexOf(' ', StringComparison.Ordinal);
                names.Add(space < 0 ? rest : rest[..space]);
            }
        }

        return names;
    }
}
