using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Reflection;
using RabbitMQ.Client;
using VideoLong.Pipeline.Bus;

namespace VideoLong.Pipeline.Tests.Bus;

/// <summary>
/// The broker of the RabbitMQ tests: <c>VIDEOLONG_TEST_RABBITMQ</c> or rabbitmq://127.0.0.1 (started by
/// <c>bash scripts/rabbitmq.sh start</c>; scripts/test.sh does it). Unreachable: the tests skip, except under CI=true,
/// where they fail.
/// </summary>
internal static class TestBroker
{
    public static PipelineTransport Transport { get; } = PipelineTransport.Parse(Environment.GetEnvironmentVariable("VIDEOLONG_TEST_RABBITMQ") ?? "rabbitmq://127.0.0.1");

    /// <summary>Skips the test when no broker answers (fails instead under CI=true).</summary>
    public static async Task RequireAsync()
    {
        string? problem = null;
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.ConnectAsync(Transport.Host!, Transport.Port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            problem = $"RabbitMQ is not reachable at {Transport} ({e.Message}); start it with 'bash scripts/rabbitmq.sh start' (as root) or set VIDEOLONG_TEST_RABBITMQ";
        }

        if (problem is not null)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail(problem + " — CI=true, so this is a failure, not a skip.");
            }

            Skip.If(true, problem);
        }
    }

    /// <summary>A queue/exchange prefix of its own for one test run, so runs never see each other's messages.</summary>
    public static string NewPrefix(string tag) => $"t{tag}-{Guid.NewGuid():N}"[..16];

    public static async Task<IConnection> ConnectAsync() => await new ConnectionFactory
    {
        HostName = Transport.Host!, Port = Transport.Port, VirtualHost = Transport.VirtualHost, UserName = Transport.User, Password = Transport.Password,
    }.CreateConnectionAsync();

    /// <summary>Messages waiting in a queue; -1 when it does not exist.</summary>
    public static async Task<long> MessageCountAsync(string queue)
    {
        await using IConnection connection = await ConnectAsync();
        await using IChannel channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return -1;
        }
    }

    /// <summary>Removes the run's queues and their exchanges (best effort; leftovers are empty and harmless).</summary>
    public static async Task DeleteQueuesAsync(string prefix)
    {
        try
        {
            await using IConnection connection = await ConnectAsync();
            foreach (string endpoint in new[] { "prepare-video", "encode-video", "generate-answer", "answer-question" })
            {
                foreach (string suffix in new[] { "", "_error", "_skipped" })
                {
                    string name = $"{prefix}-{endpoint}{suffix}";
                    await using IChannel channel = await connection.CreateChannelAsync();
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
            }
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.RabbitMQClientException or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
        {
        }
    }
}

/// <summary>
/// The built <c>videolong</c> run as a child process (<c>dotnet exec videolong.dll …</c>): the copy in this test
/// assembly's output, which the build puts there from the Pipeline project for Debug and Release alike. Its stdout and
/// stderr lines are collected and can be waited for.
/// </summary>
internal sealed class VideoLongProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _changed = new(0);

    private VideoLongProcess(string name, IEnumerable<string> args)
    {
        Name = name;
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(Program);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.Exited += (_, _) => _changed.Release();
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>videolong.dll next to this test assembly (with its runtimeconfig), else the Pipeline project's own output.</summary>
    public static string Program { get; } = FindProgram();

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>Raised on the reader thread for every line (the kill test acts on "begun" lines as they appear).</summary>
    public event Action<VideoLongProcess, string>? LineReceived;

    public static VideoLongProcess Start(string name, params string[] args) => new(name, args);

    /// <summary>Waits for a line containing <paramref name="text"/>; fails when the process exits first or after <paramref name="timeout"/>.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            if (_lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}) before printing '{text}':\n{string.Join('\n', _lines)}");
            }

            try
            {
                await _changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Name} did not print '{text}' in {timeout.TotalSeconds} s:\n{string.Join('\n', _lines)}");
            }
        }
    }

    /// <summary>SIGTERM: the graceful stop of Ctrl+C or a service manager.</summary>
    public void Terminate()
    {
        using Process kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Waits for the process to exit and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(deadline.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no chance to finish, abandon or acknowledge anything.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: true);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        LineReceived?.Invoke(this, line);
        _changed.Release();
    }

    private static string FindProgram()
    {
        string here = Path.GetDirectoryName(typeof(VideoLongProcess).Assembly.Location)!;
        if (File.Exists(Path.Combine(here, "videolong.dll")) && File.Exists(Path.Combine(here, "videolong.runtimeconfig.json")))
        {
            return Path.Combine(here, "videolong.dll");
        }

        string configuration = typeof(VideoLongProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        for (DirectoryInfo? dir = new(here); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VideoLong.sln")))
            {
                string output = Path.Combine(dir.FullName, "src", "Pipeline", "bin", configuration, "net10.0", "linux-x64", "videolong.dll");
                if (File.Exists(output))
                {
                    return output;
                }
            }
        }

        throw new FileNotFoundException($"videolong.dll was not found next to {here} nor in src/Pipeline/bin/{configuration}; build the solution first.");
    }
}
