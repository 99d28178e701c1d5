namespace VideoLong.Contracts;

/// <summary>The stages a job goes through; each is one consumer.</summary>
public enum JobStage
{
    /// <summary>Probe, plan, decode and sample the source (or read the regions of an image).</summary>
    Prepare,

    /// <summary>Vision tower and HiCo clip-level merge: frames or regions to visual tokens.</summary>
    Encode,

    /// <summary>The language model: an answer, captions or per-region text.</summary>
    Answer,
}
