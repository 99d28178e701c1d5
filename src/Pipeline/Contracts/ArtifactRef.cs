namespace VideoLong.Contracts;

/// <summary>
/// A claim check: where an artifact (a source video, sampled frames, visual tokens) lies and what its bytes are.
/// Messages carry these, never pixels or tensors.
/// </summary>
public sealed record ArtifactRef
{
    /// <summary>Where the artifact can be read, e.g. <c>file:///var/videolong/artifacts/ab/abcd…</c>.</summary>
    public required Uri Uri { get; init; }

    /// <summary>SHA-256 of the content, 64 lowercase hexadecimal digits.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Size of the content in bytes.</summary>
    public required long SizeBytes { get; init; }
}
