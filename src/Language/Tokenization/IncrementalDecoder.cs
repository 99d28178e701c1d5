using System.Text;

namespace VideoLong.Language.Tokenization;

/// <summary>
/// Decodes ids one at a time for streaming generation. Byte-level tokens may end in the middle of a UTF-8 character
/// (an emoji is often four byte tokens); the bytes of an unfinished character are held back until it is complete, so
/// every string returned is whole text. Invalid bytes become U+FFFD, and the concatenation of everything returned
/// (including <see cref="Flush"/>) equals <see cref="Qwen2Tokenizer.Decode"/> of all the ids — except that
/// <c>clean_up_tokenization_spaces</c> (off for Qwen2) is not applied while streaming.
/// Not thread-safe: one instance per generated sequence.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly Qwen2Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly List<byte> _bytes = new(16);
    private char[] _chars = new char[64];

    internal IncrementalDecoder(Qwen2Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text it completes (empty while a character is still unfinished).</summary>
    public string Append(int id)
    {
        _bytes.Clear();
        _tokenizer.AppendTokenBytes(id, _skipSpecialTokens, _bytes);
        return Convert(flush: false);
    }

    /// <summary>Ends the stream: bytes of a character that never completed come out as U+FFFD.</summary>
    public string Flush()
    {
        _bytes.Clear();
        return Convert(flush: true);
    }

    private string Convert(bool flush)
    {
        ReadOnlySpan<byte> bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes);
        int needed = _utf8.GetCharCount(bytes, flush: false) + 4; // + held-back bytes (at most 3, each one U+FFFD)
        if (_chars.Length < needed)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }

        int count = _utf8.GetChars(bytes, _chars, flush);
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }
}
