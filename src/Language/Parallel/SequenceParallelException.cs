namespace VideoLong.Language.Parallel;

/// <summary>A sequence-parallel configuration or input that cannot work (rank count, lengths, shard shapes).</summary>
public sealed class SequenceParallelException(string message) : VideoLongException(message);
