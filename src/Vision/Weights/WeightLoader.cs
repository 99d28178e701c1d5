using System.Text.RegularExpressions;
using TorchSharp;

namespace VideoLong.Vision.Weights;

/// <summary>Progress of a weight load: tensors copied out of the total.</summary>
public readonly record struct LoadProgress(int Loaded, int Total, string Current);

/// <summary>
/// The declarative mapping between checkpoint names and a model's parameter names: renames (regex → replacement, applied
/// in order to checkpoint keys), tied parameters (filled from another parameter when the checkpoint lacks them) and
/// checkpoint keys to ignore (regex).
/// </summary>
public sealed record WeightMap
{
    public static WeightMap Identity { get; } = new();

    public IReadOnlyList<(Regex Pattern, string Replacement)> Renames { get; init; } = [];

    /// <summary>Model parameter → model parameter it is tied to, e.g. <c>lm_head.weight</c> ← <c>model.embed_tokens.weight</c>.</summary>
    public IReadOnlyDictionary<string, string> Tied { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<Regex> Ignored { get; init; } = [];

    public string Rename(string checkpointKey)
    {
        string key = checkpointKey;
        foreach ((Regex pattern, string replacement) in Renames)
        {
            key = pattern.Replace(key, replacement);
        }

        return key;
    }
}

/// <summary>Strict loading of a safetensors checkpoint into a TorchSharp module.</summary>
public static class WeightLoader
{
    /// <summary>
    /// Copies every parameter and persistent buffer of <paramref name="module"/> from <paramref name="checkpoint"/>,
    /// converting to the module's dtype. Fails with a <see cref="WeightLoadException"/> listing all missing, unexpected
    /// and mis-shaped tensors before copying anything.
    /// </summary>
    public static void LoadStrict(torch.nn.Module module, SafetensorsCheckpoint checkpoint, string modelDescription, WeightMap? map = null,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(checkpoint);
        map ??= WeightMap.Identity;
        Dictionary<string, torch.Tensor> targets = module.state_dict();

        var sources = new Dictionary<string, string>(StringComparer.Ordinal);   // model key -> checkpoint key
        var unexpected = new List<string>();
        foreach (string key in checkpoint.Names.Order(StringComparer.Ordinal))
        {
            if (map.Ignored.Any(r => r.IsMatch(key)))
            {
                continue;
            }

            string target = map.Rename(key);
            if (targets.ContainsKey(target))
            {
                sources[target] = key;
            }
            else
            {
                unexpected.Add(key);
            }
        }

        var missing = new List<string>();
        var mismatched = new List<string>();
        foreach ((string name, torch.Tensor tensor) in targets.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (!sources.TryGetValue(name, out string? source))
            {
                if (map.Tied.TryGetValue(name, out string? tiedTo) && sources.TryGetValue(tiedTo, out string? tiedSource))
                {
                    sources[name] = tiedSource;
                    source = tiedSource;
                }
                else
                {
                    missing.Add(name);
                    continue;
                }
            }

            long[] stored = checkpoint.Entry(source).Shape;
            if (!stored.SequenceEqual(tensor.shape))
            {
                mismatched.Add($"{name}: expected [{string.Join(", ", tensor.shape)}], got [{string.Join(", ", stored)}]");
            }
        }

        if (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0)
        {
            throw new WeightLoadException(checkpoint.Path, modelDescription, missing, unexpected, mismatched);
        }

        int done = 0;
        using (torch.no_grad())
        {
            foreach ((string name, torch.Tensor tensor) in targets)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using torch.Tensor value = checkpoint.Load(sources[name], tensor.dtype, tensor.device);
                tensor.copy_(value);
                progress?.Report(new LoadProgress(++done, targets.Count, name));
            }
        }
    }
}
