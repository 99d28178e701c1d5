using VideoLong.Contracts;
using VideoLong.Ingest;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Vision;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// The encode stage: sampled frames → pixels → vision tower (+ HiCo clip merge) → projector, stored as a
/// <see cref="VisualTokensArtifact"/> keyed by the frames, the model and the compression settings. A stored key is
/// reused without loading frames or running the tower.
/// </summary>
public sealed class VideoTokenEncoder(ArtifactCache cache, ModelRegistry models, PipelineOptions pipelineOptions)
{
    public async Task<VideoEncoded> EncodeAsync(EncodeVideo command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        LoadedModel model = await models.GetAsync(command.Model, cancellationToken).ConfigureAwait(false);
        VlmOptions options = CompressionOptions.ToVlmOptions(command.Compression, pipelineOptions.VisionBatchSize);
        ArtifactKey key = ArtifactKey.For(command.Frames.Sha256, ArtifactKinds.VisualTokens)
            .Add("model", model.Fingerprint)
            .Add("compression.tokens-per-frame", command.Compression.TokensPerFrame ?? 0)
            .Add("compression.clip", options.ClipLength)
            .Build();
        await using (ArtifactLease? lease = await cache.TryGetAsync(key, cancellationToken).ConfigureAwait(false))
        {
            if (lease is not null)
            {
                return Encoded(command, key, lease.Info, (int)model.Model.VideoTokenCount(command.FrameCount, options), fromCache: true);
            }
        }

        IReadOnlyList<VideoFrame> frames = await SampledFramesArtifact.TryGetAsync(cache, ArtifactRefs.KeyOf(command.Frames), cancellationToken).ConfigureAwait(false)
            ?? throw new VideoLongException($"Frames artifact {command.Frames.Uri} is not in the cache (evicted?); prepare the video again.");
        await model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Grad mode is per thread: the no_grad scope must not span an await (the continuation may run on another
            // thread, which would then restore the mode there and leave this pool thread without gradients).
            Tensor encoded;
            using (no_grad())
            using (Tensor pixels = VisionInputs.VideoPixels(frames, VisionInputs.NormalizationFor(model.Directory), model.Model.LanguageModel.Device, model.Model.LanguageModel.DType))
            {
                encoded = model.Model.EncodeVideos(pixels, options, null, cancellationToken);           // [F·t + 1, H]
            }

            using Tensor tokens = encoded;
            ArtifactInfo info = await cache.PutAsync(key, ArtifactKinds.VisualTokens,
                (stream, ct) => VisualTokensArtifact.WriteAsync(stream, tokens, TensorDtype.F32, ct), cancellationToken).ConfigureAwait(false);
            return Encoded(command, key, info, (int)tokens.shape[0], fromCache: false);
        }
        finally
        {
            model.Gate.Release();
        }
    }

    private static VideoEncoded Encoded(EncodeVideo command, ArtifactKey key, ArtifactInfo info, int tokenCount, bool fromCache) => new()
    {
        JobId = command.JobId,
        Timestamp = DateTimeOffset.UtcNow,
        VisualTokens = ArtifactRefs.For(key, info),
        TokenCount = tokenCount,
        FromCache = fromCache,
    };
}
