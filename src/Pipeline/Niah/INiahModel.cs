using VideoLong.Ingest;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Niah;

/// <summary>
/// Visual tokens of consecutive frames, one block per frame: <see cref="Blocks"/> [F, t, H]; <see cref="Trailer"/>
/// [k, H] holds what the model appends after the last frame (LLaVA-OneVision: one newline token; k may be 0).
/// </summary>
public sealed class NiahVisualTokens(Tensor blocks, Tensor trailer) : IDisposable
{
    public Tensor Blocks { get; } = blocks;

    public Tensor Trailer { get; } = trailer;

    public int Frames => (int)Blocks.shape[0];

    public void Dispose()
    {
        Blocks.Dispose();
        Trailer.Dispose();
    }
}

/// <summary>What a NIAH result records about the model, so that a figure can be traced to its settings.</summary>
public sealed record NiahModelInfo
{
    public required string Model { get; init; }

    /// <summary>Identifies the weights (part of the haystack cache key).</summary>
    public required string Fingerprint { get; init; }

    public required int TokensPerFrame { get; init; }

    /// <summary>Frames merged together (HiCo clip length); frame counts given to <see cref="INiahModel.EncodeFramesAsync"/> are multiples of it.</summary>
    public required int ClipLength { get; init; }

    /// <summary>Side of the square frames the encoder takes.</summary>
    public required int FrameSize { get; init; }

    public IReadOnlyList<int> DropLayers { get; init; } = [];

    public IReadOnlyList<double> DropRatios { get; init; } = [];

    public string? DropMode { get; init; }

    public int? V2peStride { get; init; }

    public required string Device { get; init; }
}

/// <summary>
/// The one interface a model implements to be benchmarked: frames → per-frame visual tokens, and a question over a
/// sequence of visual tokens → generated text and, for models that expose logits, teacher-forced answer accuracy.
/// Implementations serialise their own forwards; the harness calls one method at a time.
/// </summary>
public interface INiahModel
{
    NiahModelInfo Info { get; }

    /// <summary>Encodes frames (all <see cref="NiahModelInfo.FrameSize"/>² RGB; a multiple of the clip length) into per-frame blocks.</summary>
    Task<NiahVisualTokens> EncodeFramesAsync(IReadOnlyList<VideoFrame> frames, CancellationToken cancellationToken);

    /// <summary>Generates an answer to <paramref name="question"/> about the visual tokens <paramref name="visual"/> [N, H].</summary>
    Task<string> AnswerAsync(Tensor visual, string question, int maxNewTokens, CancellationToken cancellationToken);

    /// <summary>
    /// One teacher-forced pass over prompt ++ <paramref name="answer"/>: the argmax at each position that predicts an
    /// answer token. Null when the model exposes no logits.
    /// </summary>
    Task<TeacherForcedResult?> TeacherForcedAsync(Tensor visual, string question, string answer, CancellationToken cancellationToken);
}

/// <summary>Teacher-forced scoring of one answer: the answer tokens, the predicted ones, and how many agree.</summary>
public sealed record TeacherForcedResult(IReadOnlyList<int> AnswerTokens, IReadOnlyList<int> PredictedTokens, string PredictedText)
{
    /// <summary>LongVA's criterion: every answer token predicted exactly.</summary>
    public bool AllCorrect => AnswerTokens.Count > 0 && AnswerTokens.SequenceEqual(PredictedTokens);

    /// <summary>Fraction of answer tokens predicted.</summary>
    public double TokenAccuracy => AnswerTokens.Count == 0 ? 0 : AnswerTokens.Zip(PredictedTokens).Count(p => p.First == p.Second) / (double)AnswerTokens.Count;
}
