using TorchSharp;
using VideoLong.Vision.Models;

namespace VideoLong.Vision.Tests.Models;

public sealed class When_siglip_and_projector_load_options_are_resolved
{
    [Fact]
    public void The_default_is_float32_on_the_cpu()
    {
        (torch.Device device, torch.ScalarType dtype) = new ModelLoadOptions().Resolve();
        Assert.Equal(DeviceType.CPU, device.type);
        Assert.Equal(torch.ScalarType.Float32, dtype);
    }

    [Fact]
    public void An_explicit_dtype_wins()
    {
        (_, torch.ScalarType dtype) = new ModelLoadOptions { DType = torch.ScalarType.BFloat16 }.Resolve();
        Assert.Equal(torch.ScalarType.BFloat16, dtype);
    }

    [Fact]
    public void An_integer_dtype_is_refused_naming_the_option()
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() => new ModelLoadOptions { DType = torch.ScalarType.Int64 }.Resolve());
        Assert.Equal("DType", e.Key);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("meta")]
    public void An_unknown_device_is_refused_naming_the_option(string device)
    {
        ModelConfigException e = Assert.Throws<ModelConfigException>(() => new ModelLoadOptions { Device = device }.Resolve());
        Assert.Equal("Device", e.Key);
    }
}
