using TorchSharp;

namespace VideoLong.Vision;

/// <summary>What the tensor backend is: TorchSharp's version, the libtorch it loaded, and the CUDA devices it sees.</summary>
public sealed record TorchBackendInfo(string TorchSharpVersion, string LibtorchPath, bool CudaAvailable, int CudaDeviceCount, bool CudnnAvailable, int Threads);

/// <summary>Initialises TorchSharp once and reports the backend (for <c>videolong doctor</c> and benchmarks).</summary>
public static class TorchRuntime
{
    public static TorchBackendInfo Describe()
    {
        bool cuda = torch.cuda.is_available();
        string libtorch = FindLoaded("libtorch_cpu.so") ?? "unknown";
        return new TorchBackendInfo(
            typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown",
            libtorch,
            cuda,
            cuda ? torch.cuda.device_count() : 0,
            cuda && torch.cuda.is_cudnn_available(),
            torch.get_num_threads());
    }

    /// <summary>The path of a shared library this process has mapped (from /proc/self/maps).</summary>
    private static string? FindLoaded(string name)
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(cells => cells.Length >= 6 && cells[5].EndsWith(name, StringComparison.Ordinal))
                .Select(cells => cells[5])
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
