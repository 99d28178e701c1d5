using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace VideoLong.Ingest.Tools;

/// <summary>
/// One run of an external tool (ffmpeg, ffprobe) with the guarantees the Ingest layer relies on: arguments passed as a
/// list (never through a shell), stdout exposed as a stream for the caller to consume with back-pressure, stderr read
/// continuously (its tail kept for error messages, each line offered to an optional observer), a wall-clock limit and
/// an inactivity limit, and on any exit path (timeout, cancellation, dispose) the process killed with its children.
/// </summary>
internal sealed class ToolProcess : IAsyncDisposable
{
    private const int StderrTailLines = 40;

    private readonly Process _process;
    private readonly string _tool;
    private readonly Queue<string> _stderrTail = new();
    private readonly Task _stderrPump;
    private readonly CancellationTokenSource _watchdog;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _inactivityTimeout;
    private long _lastActivityTicks;
    private long _pausedSince;          // 0 when the clocks run
    private long _pausedTotal;
    private int _killedBy = -1;         // -1: not killed; 0: the overall limit; 1: the inactivity limit

    private ToolProcess(Process process, string tool, ToolLimits limits, Action<string>? onStderrLine, CancellationToken cancellationToken)
    {
        _process = process;
        _tool = tool;
        _timeout = limits.Timeout;
        _inactivityTimeout = limits.InactivityTimeout;
        _lastActivityTicks = Environment.TickCount64;
        _watchdog = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _stderrPump = PumpStderrAsync(onStderrLine);
        _ = WatchAsync(cancellationToken);
    }

    /// <summary>The process's standard output; read it to the end (or dispose) so the tool can finish.</summary>
    public Stream StandardOutput => _process.StandardOutput.BaseStream;

    /// <summary>Completes when the tool has closed its stderr (it exited or is about to).</summary>
    public Task StderrCompleted => _stderrPump;

    /// <summary>The last lines the tool wrote to stderr, for error messages.</summary>
    public string StderrTail
    {
        get
        {
            lock (_stderrTail)
            {
                return string.Join('\n', _stderrTail);
            }
        }
    }

    /// <summary>True when the process was killed because a limit ran out.</summary>
    public bool TimedOut => Volatile.Read(ref _killedBy) >= 0;

    /// <summary>Starts <paramref name="executable"/>; a missing tool becomes <see cref="MediaToolMissingException"/>.</summary>
    public static ToolProcess Start(string executable, IEnumerable<string> arguments, ToolLimits limits,
        Action<string>? onStderrLine, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,   // so the tool never reads the terminal
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            process.Dispose();
            string name = Path.GetFileName(executable);
            string hint = name is "ffmpeg" or "ffprobe"
                ? $"Install FFmpeg (Debian: apt-get install -y ffmpeg) or set {MediaTools.FfmpegEnvironmentVariable}/{MediaTools.FfprobeEnvironmentVariable}."
                : "Is it installed and on PATH?";
            throw new MediaToolMissingException(name, $"Cannot run '{executable}': {e.Message}. {hint}");
        }

        process.StandardInput.Close();
        return new ToolProcess(process, Path.GetFileName(executable), limits, onStderrLine, cancellationToken);
    }

    /// <summary>Marks progress (bytes arrived on stdout), resetting the inactivity limit.</summary>
    public void Touch() => Volatile.Write(ref _lastActivityTicks, Environment.TickCount64);

    /// <summary>
    /// Stops both clocks while the caller is busy with output it already has (a consumer of frames may take minutes per
    /// frame; the tool then waits on a full pipe, which is not the tool hanging). <see cref="ResumeClocks"/> restarts them.
    /// </summary>
    public void PauseClocks() => Interlocked.CompareExchange(ref _pausedSince, Environment.TickCount64, 0);

    public void ResumeClocks()
    {
        long since = Interlocked.Exchange(ref _pausedSince, 0);
        if (since != 0)
        {
            Interlocked.Add(ref _pausedTotal, Environment.TickCount64 - since);
            Touch();
        }
    }

    /// <summary>Waits for the process and its stderr to end and returns the exit code; throws on timeout or cancellation.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        await _stderrPump.WaitAsync(cancellationToken).ConfigureAwait(false);

        ThrowIfTimedOut();
        return _process.ExitCode;
    }

    /// <summary>Throws <see cref="MediaToolTimeoutException"/> when a limit killed the process.</summary>
    public void ThrowIfTimedOut()
    {
        if (TimedOut)
        {
            TimeSpan limit = Volatile.Read(ref _killedBy) == 1 ? _inactivityTimeout : _timeout;
            throw new MediaToolTimeoutException(_tool, limit,
                $"{_tool} ran past its limit ({limit.TotalSeconds:0.#} s {(limit == _inactivityTimeout ? "without output" : "in all")}) and was stopped. " +
                "Raise the limit in DecoderOptions/ProbeOptions if the file is very long.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _watchdog.CancelAsync().ConfigureAwait(false);
        Kill();
        try
        {
            await _stderrPump.ConfigureAwait(false);
        }
        catch (IOException)
        {
            // the pipe closes when the process dies
        }

        _watchdog.Dispose();
        _process.Dispose();
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        catch (Win32Exception)
        {
            // already gone
        }
    }

    private async Task PumpStderrAsync(Action<string>? onStderrLine)
    {
        StreamReader reader = _process.StandardError;
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            Touch();
            onStderrLine?.Invoke(line);
            lock (_stderrTail)
            {
                _stderrTail.Enqueue(line.Length > 500 ? line[..500] : line);
                while (_stderrTail.Count > StderrTailLines)
                {
                    _stderrTail.Dequeue();
                }
            }
        }
    }

    private async Task WatchAsync(CancellationToken callerToken)
    {
        long started = Environment.TickCount64;
        try
        {
            while (!_process.HasExited)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _watchdog.Token).ConfigureAwait(false);
                long now = Environment.TickCount64;
                if (Volatile.Read(ref _pausedSince) != 0)
                {
                    continue;
                }

                bool overall = now - started - Volatile.Read(ref _pausedTotal) > _timeout.TotalMilliseconds;
                bool idle = now - Volatile.Read(ref _lastActivityTicks) > _inactivityTimeout.TotalMilliseconds;
                if (overall || idle)
                {
                    Volatile.Write(ref _killedBy, overall ? 0 : 1);
                    Kill();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // disposed, or the caller cancelled: the process must not outlive the request
            if (callerToken.IsCancellationRequested)
            {
                Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // process object disposed
        }
    }
}
