using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VideoLong.Pipeline.Cli;

/// <summary>Where a command writes: results on stdout, progress and errors on stderr.</summary>
internal sealed class CliContext(TextWriter stdout, TextWriter stderr)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private ProgressBar? _progress;

    public TextWriter Out { get; } = stdout;

    public TextWriter Error { get; } = stderr;

    /// <summary>Writes <paramref name="value"/> as JSON on stdout.</summary>
    public Task WriteJsonAsync<T>(T value) => Out.WriteLineAsync(JsonSerializer.Serialize(value, Json));

    /// <summary>A progress bar on stderr, drawn only when stderr is a terminal.</summary>
    public ProgressBar Progress(string label)
    {
        _progress = new ProgressBar(Error, label, enabled: ReferenceEquals(Error, Console.Error) && !Console.IsErrorRedirected);
        return _progress;
    }

    public void ClearProgress() => _progress?.Finish();
}

/// <summary>A one-line text progress bar: <c>frames [########------------]  12/64</c>.</summary>
internal sealed class ProgressBar(TextWriter writer, string label, bool enabled) : IProgress<(int Done, int Total)>
{
    private const int Width = 30;
    private readonly Lock _lock = new();
    private long _lastDraw;
    private bool _drawn;

    public void Report((int Done, int Total) value)
    {
        if (!enabled)
        {
            return;
        }

        long now = Environment.TickCount64;
        lock (_lock)
        {
            if (value.Done < value.Total && now - _lastDraw < 100)
            {
                return;
            }

            _lastDraw = now;
            int filled = value.Total <= 0 ? 0 : (int)((long)Width * value.Done / value.Total);
            writer.Write($"\r{label} [{new string('#', filled)}{new string('-', Width - filled)}] {value.Done,6}/{value.Total}");
            writer.Flush();
            _drawn = true;
        }
    }

    public void Finish()
    {
        lock (_lock)
        {
            if (_drawn)
            {
                writer.WriteLine();
                _drawn = false;
            }
        }
    }
}
