using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace VideoLong.Pipeline.Artifacts;

/// <summary>
/// The address of one cached artifact: 64 lowercase hex digits of a SHA-256. Built by <see cref="ArtifactKeyBuilder"/>
/// from the source's content hash, the artifact kind and every setting that produced it, or parsed strictly from text
/// (a message, a URI) by <see cref="Parse"/>. Because the key is nothing but hex digits, the cache's paths derived from it
/// can never name anything outside the cache folder.
/// </summary>
public readonly record struct ArtifactKey
{
    public const int HexLength = 64;

    private readonly string? _hex;

    private ArtifactKey(string hex) => _hex = hex;

    /// <summary>The 64 lowercase hex digits.</summary>
    public string Hex => _hex ?? throw new InvalidOperationException("This ArtifactKey is default (empty); build one with ArtifactKeyBuilder or ArtifactKey.Parse.");

    public bool IsDefault => _hex is null;

    /// <summary>Starts a key for an artifact of <paramref name="kind"/> made from the content hashed as <paramref name="sourceContentHash"/>.</summary>
    public static ArtifactKeyBuilder For(string sourceContentHash, string kind) => new(sourceContentHash, kind);

    /// <summary>Parses exactly 64 lowercase hex digits; anything else (paths, separators, upper case, whitespace) is refused.</summary>
    public static ArtifactKey Parse(string text) =>
        TryParse(text, out ArtifactKey key)
            ? key
            : throw new VideoLongException($"Invalid artifact key '{Shorten(text)}': expected exactly {HexLength} lowercase hex digits (0-9, a-f).");

    public static bool TryParse(string? text, out ArtifactKey key)
    {
        key = default;
        if (!IsValid(text))
        {
            return false;
        }

        key = new ArtifactKey(text!);
        return true;
    }

    /// <summary>True for exactly 64 characters of <c>0-9a-f</c>.</summary>
    public static bool IsValid(string? text)
    {
        if (text is null || text.Length != HexLength)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A key from a finished SHA-256 (used by the builder).</summary>
    internal static ArtifactKey FromHash(ReadOnlySpan<byte> sha256) => new(Convert.ToHexStringLower(sha256));

    public override string ToString() => _hex ?? "";

    private static string Shorten(string? text) => text is null ? "null" : text.Length <= 80 ? text : text[..80] + "…";
}

/// <summary>
/// Collects the named parts that determine an artifact (sampling strategy, fps, frame count, range, frame size and
/// resize, encoder name and version, compression settings, …) and hashes a canonical encoding of them. Parts are an
/// ordered set: they are sorted by name (ordinal), so insertion order does not matter, while any change of a name or
/// value changes the key. A name may be given once (again with the same value is allowed, a different value is an error).
/// </summary>
/// <remarks>
/// Canonical encoding (version 1): the UTF-8 strings <c>videolong.artifact-key.v1</c>, the source hash, the kind, the
/// part count, then each part's name and value in ordinal order of names, every string prefixed by its byte length as a
/// 32-bit little-endian integer (so no choice of names or values can make two different sets encode alike). Numbers are
/// written invariantly: integers in decimal, doubles in shortest round-trip form, <c>-0</c> as <c>0</c>.
/// </remarks>
public sealed class ArtifactKeyBuilder
{
    private const string Domain = "videolong.artifact-key.v1";
    private const int MaxNameLength = 128;

    private readonly SortedDictionary<string, string> _parts = new(StringComparer.Ordinal);

    public ArtifactKeyBuilder(string sourceContentHash, string kind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceContentHash);
        if (!ArtifactKey.IsValid(sourceContentHash.ToLowerInvariant()))
        {
            throw new VideoLongException($"Invalid source content hash '{sourceContentHash}': expected a SHA-256 as {ArtifactKey.HexLength} hex digits (see ContentHash).");
        }

        ArtifactKinds.Validate(kind);
        SourceContentHash = sourceContentHash.ToLowerInvariant();
        Kind = kind;
    }

    public string SourceContentHash { get; }

    public string Kind { get; }

    /// <summary>The parts so far, in canonical (ordinal) order.</summary>
    public IReadOnlyDictionary<string, string> Parts => _parts;

    public ArtifactKeyBuilder Add(string name, string value)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(value);
        if (_parts.TryGetValue(name, out string? existing) && !string.Equals(existing, value, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Key part '{name}' was already given as '{existing}'; now '{value}'. Each part is given once.", nameof(name));
        }

        _parts[name] = value;
        return this;
    }

    public ArtifactKeyBuilder Add(string name, long value) => Add(name, value.ToString(CultureInfo.InvariantCulture));

    public ArtifactKeyBuilder Add(string name, bool value) => Add(name, value ? "true" : "false");

    public ArtifactKeyBuilder Add(string name, double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"Key part '{name}' must be a finite number.");
        }

        return Add(name, (value == 0 ? 0.0 : value).ToString("R", CultureInfo.InvariantCulture));
    }

    /// <summary>Adds an enum by its name (stable across reordering of the enum's members).</summary>
    public ArtifactKeyBuilder Add<TEnum>(string name, TEnum value)
        where TEnum : struct, Enum => Add(name, value.ToString());

    /// <summary>The key: SHA-256 of the canonical encoding.</summary>
    public ArtifactKey Build() => ArtifactKey.FromHash(SHA256.HashData(Canonical()));

    /// <summary>A readable rendering of what the key covers, for logs and error messages (not what is hashed).</summary>
    public override string ToString() =>
        $"{Kind} of {SourceContentHash[..12]}… {{{string.Join(", ", _parts.Select(p => $"{p.Key}={p.Value}"))}}}";

    internal byte[] Canonical()
    {
        using var buffer = new MemoryStream();
        Write(buffer, Domain);
        Write(buffer, SourceContentHash);
        Write(buffer, Kind);
        Span<byte> count = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(count, _parts.Count);
        buffer.Write(count);
        foreach ((string name, string value) in _parts)
        {
            Write(buffer, name);
            Write(buffer, value);
        }

        return buffer.ToArray();
    }

    private static void Write(MemoryStream buffer, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        buffer.Write(length);
        buffer.Write(bytes);
    }

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            throw new ArgumentException($"Invalid key part name '{name}': use 1-{MaxNameLength} characters of A-Z, a-z, 0-9, '.', '_', '-' (e.g. 'sampling.fps').", nameof(name));
        }
    }
}

/// <summary>Artifact kinds the pipeline stores, and the rule for kind names.</summary>
public static class ArtifactKinds
{
    public const string SampledFrames = "sampled-frames";
    public const string VisualTokens = "visual-tokens";

    /// <summary>A kind is 1-64 characters of a-z, 0-9, '.', '_', '-'.</summary>
    public static void Validate(string kind)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        if (kind.Length > 64 || !kind.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-'))
        {
            throw new ArgumentException($"Invalid artifact kind '{kind}': use 1-64 characters of a-z, 0-9, '.', '_', '-' (e.g. '{SampledFrames}').", nameof(kind));
        }
    }
}
