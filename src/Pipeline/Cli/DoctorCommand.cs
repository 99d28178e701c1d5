using System.CommandLine;
using VideoLong.Ingest;
using VideoLong.Ingest.Tools;

namespace VideoLong.Pipeline.Cli;

/// <summary><c>videolong doctor</c>: what is installed, what is missing and how to install it.</summary>
internal static class DoctorCommand
{
    public static Command Create(CliContext cli)
    {
        var json = new Option<bool>("--json") { Description = "Write JSON to stdout." };
        var command = new Command("doctor", "Check FFmpeg, ffprobe, libvips and the model runtimes; exit non-zero when a required piece is missing.") { json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var checks = new List<Check>
            {
                await ToolAsync("ffmpeg", MediaTools.Ffmpeg, required: true, "apt-get install -y ffmpeg", cancellationToken).ConfigureAwait(false),
                await ToolAsync("ffprobe", MediaTools.Ffprobe, required: true, "apt-get install -y ffmpeg", cancellationToken).ConfigureAwait(false),
                Libvips(),
                await ToolAsync("vips CLI (sample media only)", "vips", required: false, "apt-get install -y libvips-tools", cancellationToken).ConfigureAwait(false),
                Torch(),
                new("ONNX Runtime", false, false, "not part of this build yet", null),
            };

            bool healthy = checks.All(c => c.Ok || !c.Required);
            if (parse.GetValue(json))
            {
                await cli.WriteJsonAsync(new { healthy, checks }).ConfigureAwait(false);
            }
            else
            {
                foreach (Check c in checks)
                {
                    string mark = c.Ok ? "ok     " : c.Required ? "MISSING" : "absent ";
                    await cli.Out.WriteLineAsync($"{mark} {c.Name,-30} {c.Detail}{(c.Ok || c.Install is null ? "" : $"  → install: {c.Install}")}").ConfigureAwait(false);
                }

                await cli.Out.WriteLineAsync(healthy ? "All required pieces are present." : "Some required pieces are missing (see above).").ConfigureAwait(false);
            }

            return healthy ? VideoLongCli.ExitOk : VideoLongCli.ExitFailure;
        });
        return command;
    }

    private static async Task<Check> ToolAsync(string name, string executable, bool required, string install, CancellationToken cancellationToken)
    {
        try
        {
            string version = await MediaTools.GetVersionAsync(executable, cancellationToken).ConfigureAwait(false);
            return new Check(name, required, true, version, install);
        }
        catch (VideoLongException e)
        {
            return new Check(name, required, false, VideoLongCli.OneLine(e.Message), install);
        }
    }

    private static Check Libvips()
    {
        try
        {
            string version = $"libvips {NetVips.NetVips.Version(0)}.{NetVips.NetVips.Version(1)}.{NetVips.NetVips.Version(2)} (NetVips, in process)";
            return new Check("libvips", true, true, version, "dotnet restore (NetVips.Native.linux-x64)");
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NetVips.VipsException)
        {
            return new Check("libvips", true, false, VideoLongCli.OneLine(e.Message), "dotnet restore (NetVips.Native.linux-x64)");
        }
    }

    private static Check Torch()
    {
        const string Install = "dotnet build (TorchSharp 0.107.0 + libtorch-cpu-linux-x64 2.10.0; on Debian 12 needs patchelf, g++, python3); for CUDA put a CUDA libtorch's folder on LD_LIBRARY_PATH";
        try
        {
            Vision.TorchBackendInfo info = Vision.TorchRuntime.Describe();
            string cuda = info.CudaAvailable ? $"CUDA: {info.CudaDeviceCount} device(s), cuDNN {(info.CudnnAvailable ? "yes" : "no")}" : "CUDA: none (CPU only)";
            return new Check("TorchSharp", true, true, $"TorchSharp {info.TorchSharpVersion}, libtorch {info.LibtorchPath}, {info.Threads} threads, {cuda}", Install);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or InvalidOperationException)
        {
            return new Check("TorchSharp", true, false, VideoLongCli.OneLine(e.InnerException?.Message ?? e.Message), Install);
        }
    }

    internal sealed record Check(string Name, bool Required, bool Ok, string Detail, string? Install);
}
