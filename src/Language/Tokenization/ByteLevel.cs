namespace VideoLong.Language.Tokenization;

/// <summary>
/// GPT-2's byte-to-unicode table, used by byte-level BPE (Qwen2): each of the 256 byte values is written as one
/// printable character so that the vocabulary is plain text. Bytes that are printable Latin-1 (<c>!</c>..<c>~</c>,
/// <c>¡</c>..<c>¬</c>, <c>®</c>..<c>ÿ</c>) stand for themselves; the other 68 take U+0100, U+0101, … in byte order,
/// so a space (0x20) is <c>Ġ</c> (U+0120) and a newline (0x0A) is <c>Ċ</c> (U+010A).
/// Reference: HF tokenizers <c>pre_tokenizers/byte_level.rs</c> (<c>bytes_char</c>), GPT-2 <c>encoder.py</c>.
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> s_charToByte = BuildCharToByte(s_byteToChar);

    public static char ToChar(byte value) => s_byteToChar[value];

    public static bool TryGetByte(char c, out byte value) => s_charToByte.TryGetValue(c, out value);

    /// <summary>The byte-level form of UTF-8 text, as the vocabulary spells it.</summary>
    public static string Encode(ReadOnlySpan<byte> utf8)
    {
        Span<char> chars = utf8.Length <= 256 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        for (int i = 0; i < utf8.Length; i++)
        {
            chars[i] = s_byteToChar[utf8[i]];
        }

        return new string(chars);
    }

    /// <summary>
    /// Appends the bytes a token stands for, as HF's ByteLevel decoder reads it: every character through the table
    /// when all of them are in it, otherwise the token's own UTF-8 bytes (added tokens such as "&lt;image&gt;" are
    /// plain ASCII, which the table maps to itself).
    /// </summary>
    public static void AppendBytes(string token, List<byte> output)
    {
        int start = output.Count;
        foreach (char c in token)
        {
            if (!s_charToByte.TryGetValue(c, out byte b))
            {
                output.RemoveRange(start, output.Count - start);
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }

            output.Add(b);
        }
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }

        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte(char[] byteToChar)
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++)
        {
            map[byteToChar[b]] = (byte)b;
        }

        return map;
    }
}
