namespace VideoLong.Vision.Weights;

/// <summary>
/// A checkpoint does not fit the model (or cannot be read). The message lists every missing, unexpected and mis-shaped
/// tensor by name, e.g.
/// <code>
/// model.safetensors does not match Qwen2ForCausalLM (2 layers)
///   missing:    model.layers.1.mlp.down_proj.weight
///   unexpected: lm_head.bias
///   shape mismatch for model.embed_tokens.weight: expected [512, 64], got [500, 64]
/// </code>
/// </summary>
public sealed class WeightLoadException : VideoLongException
{
    public WeightLoadException(string path, string message) : base(message) => Path = path;

    public WeightLoadException(string path, string model, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<string> mismatched)
        : base(Format(path, model, missing, unexpected, mismatched))
    {
        Path = path;
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
    }

    public string Path { get; }

    public IReadOnlyList<string> Missing { get; } = [];

    public IReadOnlyList<string> Unexpected { get; } = [];

    /// <summary>"name: expected [..], got [..]" per tensor.</summary>
    public IReadOnlyList<string> Mismatched { get; } = [];

    private static string Format(string path, string model, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
    {
        var lines = new List<string> { $"{System.IO.Path.GetFileName(path.TrimEnd('/'))} does not match {model}" };
        lines.AddRange(missing.Select(m => $"  missing:    {m}"));
        lines.AddRange(unexpected.Select(u => $"  unexpected: {u}"));
        lines.AddRange(mismatched.Select(m => $"  shape mismatch for {m}"));
        return string.Join('\n', lines);
    }
}
