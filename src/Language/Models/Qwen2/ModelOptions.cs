using TorchSharp;

namespace VideoLong.Language.Models;

/// <summary>
/// Runtime knobs for loading a model (not part of its architecture): where it runs and in which element type.
/// Bindable from configuration (<c>"Device": "cuda:0"</c>, <c>"DType": "BFloat16"</c>).
/// </summary>
public sealed class ModelOptions
{
    /// <summary>A TorchSharp device string: <c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Parameter and activation type; default float32 on CPU and bfloat16 on CUDA.</summary>
    public torch.ScalarType? DType { get; set; }

    public torch.Device ResolveDevice()
    {
        try
        {
            return new torch.Device(Device);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new VideoLongException($"Invalid device '{Device}'. Valid: cpu, cuda, cuda:N.", e);
        }
    }

    public torch.ScalarType ResolveDType(torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        torch.ScalarType dtype = DType ?? (device.type == DeviceType.CUDA ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32);
        if (dtype is not (torch.ScalarType.Float32 or torch.ScalarType.BFloat16 or torch.ScalarType.Float16))
        {
            throw new VideoLongException($"Invalid model dtype {dtype}. Valid: Float32, BFloat16, Float16.");
        }

        return dtype;
    }
}
