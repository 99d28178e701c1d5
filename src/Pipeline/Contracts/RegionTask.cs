namespace VideoLong.Contracts;

/// <summary>What is asked of each region of a large image.</summary>
public enum RegionTask
{
    /// <summary>Answer <see cref="AnalyzeImage.Question"/> for every region.</summary>
    Question,

    /// <summary>Write a caption for every region.</summary>
    Caption,
}
