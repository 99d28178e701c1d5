using System.CommandLine;

namespace VideoLong.Pipeline.Cli;

internal static class TilesCommand
{
    public static Command Create(CliContext cli) => new("tiles", "Read regions of a large image.");
}
