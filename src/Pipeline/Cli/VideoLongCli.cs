using System.CommandLine;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// The <c>videolong</c> command line: a thin shell over the libraries. Every verb has <c>--json</c>; errors caused by
/// input are one line on stderr and a non-zero exit code (2), never a stack trace.
/// </summary>
public static class VideoLongCli
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitBadInput = 2;
    public const int ExitCancelled = 130;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        var context = new CliContext(stdout, stderr);
        var root = new RootCommand("VideoLong: understanding long videos and gigapixel images.")
        {
            ProbeCommand.Create(context),
            FramesCommand.Create(context),
            TilesCommand.Create(context),
            DoctorCommand.Create(context),
            ChatCommand.Create(context),
            AskCommand.Create(context),
            ServeCommand.Create(context),
            CaptionCommand.Create(context),
            AnalyzeCommand.Create(context),
            JobsCommand.Create(context),
            WorkerCommand.Create(context),
            NiahCommand.Create(context),
            NiahCommand.CreateReport(context),
            TrainCommand.Create(context),
            TrainCommand.CreateEval(context),
            TrainCommand.CreateResNetExport(context),
        };

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // Usage errors: one line each, and where to find the usage, instead of the whole help text.
            foreach (System.CommandLine.Parsing.ParseError error in parse.Errors)
            {
                await stderr.WriteLineAsync($"videolong: error: {OneLine(error.Message)}").ConfigureAwait(false);
            }

            string usage = parse.CommandResult.Command == root ? "videolong" : $"videolong {parse.CommandResult.Command.Name}";
            await stderr.WriteLineAsync($"Run '{usage} --help' for usage.").ConfigureAwait(false);
            return ExitBadInput;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false },
                cancellationToken).ConfigureAwait(false);
        }
        catch (VideoLongException e)
        {
            context.ClearProgress();
            await stderr.WriteLineAsync($"videolong: error: {OneLine(e.Message)}").ConfigureAwait(false);
            return ExitBadInput;
        }
        catch (OperationCanceledException)
        {
            context.ClearProgress();
            await stderr.WriteLineAsync("videolong: cancelled").ConfigureAwait(false);
            return ExitCancelled;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or FormatException)
        {
            context.ClearProgress();
            await stderr.WriteLineAsync($"videolong: error: {OneLine(e.Message)}").ConfigureAwait(false);
            return ExitBadInput;
        }
        catch (Exception e)
        {
            context.ClearProgress();
            string detail = Environment.GetEnvironmentVariable("VIDEOLONG_DEBUG") == "1" ? e.ToString() : OneLine(e.Message);
            await stderr.WriteLineAsync($"videolong: internal error ({e.GetType().Name}): {detail}").ConfigureAwait(false);
            return ExitFailure;
        }
    }

    internal static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
