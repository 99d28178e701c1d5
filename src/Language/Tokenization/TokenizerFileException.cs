namespace VideoLong.Language.Tokenization;

/// <summary>
/// A tokenizer file is missing, unreadable or not what Qwen2's tokenizer needs. The message names the file and says
/// what is expected, e.g. "tokenizer.json: model.merges[12] is "Ġt he x"; expected two tokens separated by one space
/// (or a [left, right] pair)."
/// </summary>
public sealed class TokenizerFileException : VideoLongException
{
    public TokenizerFileException(string path, string message, Exception? innerException = null)
        : base(message, innerException) => Path = path;

    /// <summary>The file (or folder) at fault.</summary>
    public string Path { get; }
}
