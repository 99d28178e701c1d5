using TorchSharp;

namespace VideoLong.Vision.Tests;

public sealed class When_torchsharp_starts
{
    [Fact]
    public void It_loads_libtorch_and_computes()
    {
        TorchBackendInfo info = TorchRuntime.Describe();
        Assert.EndsWith("libtorch_cpu.so", info.LibtorchPath, StringComparison.Ordinal);
        using torch.Tensor a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using torch.Tensor b = torch.matmul(a, a.T);
        // torch: a @ a.T = [[5, 14], [14, 50]]
        Assert.Equal([5f, 14f, 14f, 50f], b.data<float>().ToArray());
    }
}
