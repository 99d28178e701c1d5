namespace VideoLong.Ingest.Images;

/// <summary>The size of one resolution level of an image: level 0 is full resolution, each pyramid level is smaller.</summary>
public readonly record struct ImageLevel(int Width, int Height)
{
    /// <summary>"W×H".</summary>
    public override string ToString() => $"{Width}×{Height}";
}
