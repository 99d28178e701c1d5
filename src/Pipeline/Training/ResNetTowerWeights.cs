using VideoLong.Pipeline.Artifacts;
using VideoLong.Vision.Models.ResNet;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Training;

/// <summary>
/// ImageNet weights for VideoLong-Tiny's ResNet18 tower: read from ML.NET's ResNet18.onnx (64 MB, in the NuGet cache), or
/// from the small safetensors file <see cref="ExportAsync"/> writes from it (the tower's torchvision-named tensors up to
/// layer3, float32, about 11 MB), which travels to a GPU host without network where the package cannot be restored.
/// </summary>
public static class ResNetTowerWeights
{
    /// <summary>Loads <paramref name="path"/> (.onnx: converted; .safetensors: strict, torchvision names) into <paramref name="tower"/>.</summary>
    public static void Load(ResNet18VisionModel tower, string path)
    {
        ArgumentNullException.ThrowIfNull(tower);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new VideoLongException($"init_vision_from '{path}' does not exist: give ResNet18.onnx (Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, e.g. " +
                $"{ResNet18OnnxImport.DefaultOnnxPath()}) or the .safetensors that 'videolong resnet18-export' writes.");
        }

        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            ResNet18OnnxImport.LoadInto(tower, OnnxModel.Read(path));
        }
        else if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(path);
            WeightLoader.LoadStrict(tower, checkpoint, tower.Config.Describe());
        }
        else
        {
            throw new VideoLongException($"init_vision_from '{path}' must end in .onnx or .safetensors.");
        }
    }

    /// <summary>
    /// Writes the tower (ImageNet weights from <paramref name="onnxPath"/>, <paramref name="stages"/> stages) as safetensors
    /// of <paramref name="dtype"/> (F32 exact; BF16 half the size, e.g. to fit a device call, rounded).
    /// </summary>
    public static async Task<long> ExportAsync(string onnxPath, string outPath, int stages, TensorDtype dtype, CancellationToken cancellationToken)
    {
        using var tower = new ResNet18VisionModel(new ResNet18VisionConfig { ImageSize = 64, NumStages = stages });
        ResNet18OnnxImport.LoadInto(tower, OnnxModel.Read(onnxPath));
        var tensors = new List<SafetensorsTensor>();
        foreach ((string name, Tensor value) in tower.state_dict().OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            float[] data = value.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();
            tensors.Add(new SafetensorsTensor(name, dtype, value.shape, (stream, ct) => SafetensorsWriter.WriteFloatsAsync(stream, data, dtype, ct)));
        }

        string? folder = Path.GetDirectoryName(Path.GetFullPath(outPath));
        Directory.CreateDirectory(folder!);
        await using (FileStream file = File.Create(outPath))
        {
            await SafetensorsWriter.WriteAsync(file, tensors, new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["source"] = $"Microsoft.ML.DnnImageFeaturizer.ResNet18 {ResNet18OnnxImport.PackageVersion} ResNet18.onnx (MIT), conv1 flipped to RGB, up to layer{stages}",
            }, cancellationToken).ConfigureAwait(false);
        }

        return new FileInfo(outPath).Length;
    }
}
