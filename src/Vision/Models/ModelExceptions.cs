namespace VideoLong.Vision.Models;

/// <summary>
/// A model's <c>config.json</c> (or a load option) has a missing, mistyped or invalid value. <see cref="Key"/> names it,
/// e.g. <c>config.json: hidden_size (50) must be divisible by num_attention_heads (4).</c>
/// </summary>
public sealed class ModelConfigException : VideoLongException
{
    public ModelConfigException(string path, string key, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
        Key = key;
    }

    /// <summary>The file the value came from (for a load option: the options class).</summary>
    public string Path { get; }

    /// <summary>The offending key as spelled in the file, e.g. <c>num_attention_heads</c>.</summary>
    public string Key { get; }
}

/// <summary>A tensor handed to a model does not have the shape the model takes; the message says what is accepted.</summary>
public sealed class ModelInputException(string input, IReadOnlyList<long> shape, string message) : VideoLongException(message)
{
    /// <summary>The argument, e.g. <c>pixelValues</c>.</summary>
    public string Input { get; } = input;

    public IReadOnlyList<long> Shape { get; } = shape;
}
