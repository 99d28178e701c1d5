using VideoLong.Pipeline.Cli;

namespace VideoLong.Pipeline.Tests.Cli;

/// <summary>Runs the videolong CLI in process and captures its output.</summary>
internal static class CliRunner
{
    public static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int exit = await VideoLongCli.RunAsync(args, stdout, stderr, CancellationToken.None);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Asserts the run failed with exactly one line on stderr and no stack trace.</summary>
    public static void AssertOneLineError((int Exit, string Out, string Err) run, string contains)
    {
        Assert.NotEqual(0, run.Exit);
        string[] lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("videolong: error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(contains, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain(".cs:line", run.Err, StringComparison.Ordinal);   // no stack trace
    }
}

/// <summary>The CLI tests share one process environment (some set variables), so they run one after another.</summary>
[CollectionDefinition(nameof(CliCollection))]
public sealed class CliCollection : ICollectionFixture<TempMedia>;
