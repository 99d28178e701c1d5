using static TorchSharp.torch;

namespace VideoLong.Vision.Models;

/// <summary>What a vision-language model needs to know about its vision tower's geometry (SigLIP or ResNet18).</summary>
public interface IVisionTowerConfig
{
    /// <summary>Input frames are ImageSize × ImageSize.</summary>
    int ImageSize { get; }

    /// <summary>Feature positions per side; a frame gives GridSize² features.</summary>
    int GridSize { get; }

    /// <summary>Channels of a feature.</summary>
    int HiddenSize { get; }

    /// <summary>For messages, e.g. "SiglipVisionModel (4 layers, …)".</summary>
    string Describe();
}

/// <summary>A vision tower: pixels [N, 3, S, S] → features [N, GridSize², HiddenSize].</summary>
public interface IVisionTower
{
    /// <summary>The features at <paramref name="featureLayer"/> (transformers' hidden_states indexing; −1 = last).</summary>
    Tensor ForwardFeatures(Tensor pixelValues, int featureLayer);
}
