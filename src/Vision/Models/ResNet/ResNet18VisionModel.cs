// ResNet18 (He et al. 2015, torchvision layout: conv1, bn1, layer1…layer3 of two BasicBlocks each, downsample.0/1 on
// the first block of layers 2–3) truncated after layer1, 2 or 3, as a vision tower: pixels [N, 3, S, S] → features
// [N, (S/stride)², C]. BatchNorm is kept as BatchNorm2d (batch statistics while training, running statistics in eval),
// so the ImageNet weights of ML.NET's graph (Conv without bias → BatchNormalization) load one to one.
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VideoLong.Vision.Models.ResNet;

/// <summary>A ResNet18 trunk as a vision tower; parameter names are torchvision's (<c>conv1.weight</c>, <c>layer2.0.downsample.0.weight</c>, …).</summary>
public sealed class ResNet18VisionModel : nn.Module<Tensor, Tensor>, IVisionTower
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ModuleList<ResNetBasicBlock>? layer1;
    private readonly ModuleList<ResNetBasicBlock>? layer2;
    private readonly ModuleList<ResNetBasicBlock>? layer3;

    public ResNet18VisionModel(ResNet18VisionConfig config, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ResNet18VisionModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 0L, bias: false, device: device, dtype: dtype);
        bn1 = nn.BatchNorm2d(64, config.BatchNormEps, device: device, dtype: dtype);
        ModuleList<ResNetBasicBlock> Stage(int inChannels, int outChannels, int stride) =>
            nn.ModuleList(new ResNetBasicBlock(inChannels, outChannels, stride, config.BatchNormEps, device, dtype),
                new ResNetBasicBlock(outChannels, outChannels, 1, config.BatchNormEps, device, dtype));
        layer1 = Stage(64, 64, 1);
        layer2 = config.NumStages >= 2 ? Stage(64, 128, 2) : null;
        layer3 = config.NumStages >= 3 ? Stage(128, 256, 2) : null;
        RegisterComponents();
    }

    public ResNet18VisionConfig Config { get; }

    /// <summary>The last kept stage's map, [N, C, g, g].</summary>
    public override Tensor forward(Tensor pixelValues)
    {
        CheckPixels(pixelValues);
        using DisposeScope scope = NewDisposeScope();
        Tensor x = pixelValues.to(conv1.weight!.dtype).to(conv1.weight.device);
        x = nn.functional.pad(x, [3, 2, 3, 2]);                                  // CNTK pads [3, 3, 2, 2]: 3 before, 2 after
        x = nn.functional.relu(bn1.forward(conv1.forward(x)));                  // [N, 64, S/2, S/2]
        x = nn.functional.pad(x, [1, 0, 1, 0], PaddingModes.Constant, double.NegativeInfinity);
        x = nn.functional.max_pool2d(x, 3, 2);                                   // [N, 64, S/4, S/4]
        foreach (ModuleList<ResNetBasicBlock>? stage in new[] { layer1, layer2, layer3 })
        {
            if (stage is null)
            {
                break;
            }

            foreach (ResNetBasicBlock block in stage)
            {
                x = block.forward(x);
            }
        }

        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Features [N, g², C] (row-major positions). Only the last kept stage is a feature layer: −1 or NumStages.</summary>
    public Tensor ForwardFeatures(Tensor pixelValues, int featureLayer)
    {
        if (featureLayer != -1 && featureLayer != Config.NumStages)
        {
            throw new ArgumentOutOfRangeException(nameof(featureLayer), featureLayer,
                $"A truncated ResNet18 gives features of its last stage only: feature layer −1 or {Config.NumStages}.");
        }

        using DisposeScope scope = NewDisposeScope();
        Tensor map = forward(pixelValues);                                      // [N, C, g, g]
        return map.flatten(2).transpose(1, 2).MoveToOuterDisposeScope();        // [N, g², C]
    }

    private void CheckPixels(Tensor pixelValues)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        long[] shape = pixelValues.shape;
        int size = Config.ImageSize;
        if (shape.Length != 4 || shape[0] < 1 || shape[1] != 3 || shape[2] != size || shape[3] != size)
        {
            throw new ModelInputException(nameof(pixelValues), shape,
                $"Pixel values must be [B, 3, {size}, {size}] with B ≥ 1; got [{string.Join(", ", shape)}]. Hint: resize frames to {size}×{size} before normalising.");
        }

        if (!pixelValues.is_floating_point())
        {
            throw new ModelInputException(nameof(pixelValues), shape,
                $"Pixel values must be floating point (normalised: x − ImageNet mean, see ResNet18VisionConfig.Normalization), not {pixelValues.dtype}.");
        }
    }
}

/// <summary>BasicBlock: 3×3 conv → BN → ReLU → 3×3 conv → BN, plus the identity (or a 1×1 strided conv → BN), → ReLU.</summary>
internal sealed class ResNetBasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;
    private readonly int _stride;

    public ResNetBasicBlock(int inChannels, int outChannels, int stride, double eps, Device? device, ScalarType? dtype)
        : base(nameof(ResNetBasicBlock))
    {
        _stride = stride;
        conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: stride == 1 ? 1L : 0L, bias: false, device: device, dtype: dtype);
        bn1 = nn.BatchNorm2d(outChannels, eps, device: device, dtype: dtype);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1L, bias: false, device: device, dtype: dtype);
        bn2 = nn.BatchNorm2d(outChannels, eps, device: device, dtype: dtype);
        if (stride != 1 || inChannels != outChannels)
        {
            downsample = nn.Sequential(
                nn.Conv2d(inChannels, outChannels, 1, stride: stride, padding: 0L, bias: false, device: device, dtype: dtype),
                nn.BatchNorm2d(outChannels, eps, device: device, dtype: dtype));
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using DisposeScope scope = NewDisposeScope();
        Tensor input = _stride == 1 ? x : nn.functional.pad(x, [1, 0, 1, 0]);   // CNTK pads [1, 1, 0, 0] on strided 3×3 convs
        Tensor y = nn.functional.relu(bn1.forward(conv1.forward(input)));
        y = bn2.forward(conv2.forward(y));
        Tensor identity = downsample is null ? x : downsample.forward(x);
        return nn.functional.relu(y.add(identity)).MoveToOuterDisposeScope();
    }
}
