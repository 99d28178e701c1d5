using TorchSharp;

namespace VideoLong.Vision.Models;

/// <summary>Where a model's weights live and in which element type (runtime knobs, not architecture).</summary>
public sealed class ModelLoadOptions
{
    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Float32, BFloat16, Float16 or Float64; <c>null</c> picks float32 on the CPU and bfloat16 on CUDA.</summary>
    public torch.ScalarType? DType { get; set; }

    /// <summary>The device and dtype to build on, checked: a CUDA device must exist and the dtype must be floating point.</summary>
    public (torch.Device Device, torch.ScalarType DType) Resolve()
    {
        torch.Device device;
        try
        {
            device = torch.device(Device);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ModelConfigException(nameof(ModelLoadOptions), nameof(Device), $"Invalid device '{Device}': use cpu, cuda or cuda:N.", e);
        }

        if (device.type == DeviceType.CUDA)
        {
            int count = torch.cuda.is_available() ? torch.cuda.device_count() : 0;
            if (device.index >= count || count == 0)
            {
                throw new ModelConfigException(nameof(ModelLoadOptions), nameof(Device),
                    $"Device '{Device}' is not available: this process sees {count} CUDA device(s). Hint: use cpu, or run on the GPU build.");
            }
        }
        else if (device.type != DeviceType.CPU)
        {
            throw new ModelConfigException(nameof(ModelLoadOptions), nameof(Device), $"Device '{Device}' is not supported: use cpu, cuda or cuda:N.");
        }

        torch.ScalarType dtype = DType ?? (device.type == DeviceType.CUDA ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32);
        if (dtype is not (torch.ScalarType.Float32 or torch.ScalarType.BFloat16 or torch.ScalarType.Float16 or torch.ScalarType.Float64))
        {
            throw new ModelConfigException(nameof(ModelLoadOptions), nameof(DType), $"DType {dtype} is not supported: use Float32, BFloat16, Float16 or Float64.");
        }

        return (device, dtype);
    }
}
