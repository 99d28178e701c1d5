using System.Diagnostics;
using VideoLong.Ingest;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Vision.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Niah;

/// <summary>
/// Runs a NIAH config against an <see cref="INiahModel"/>. The haystack is encoded once per (source, sampling, model,
/// compression, frame count) — and kept in the artifact cache, so a re-run skips it — each needle once; every trial
/// splices the needle's blocks into the haystack's at ⌊d·F⌋ and asks its question.
/// </summary>
public sealed class NiahRunner(INiahModel model, ArtifactCache? cache)
{
    /// <summary>Artifact kind of cached haystack tokens (a visual-tokens safetensors file, [F·t + k, H]).</summary>
    public const string HaystackKind = "niah-haystack-tokens";

    /// <summary>Frames per encoder call while encoding the haystack (bounds memory; a multiple of the clip length).</summary>
    public int EncodeChunkFrames { get; init; } = 256;

    /// <summary>Called with the results so far after each haystack length (so that a run cut short still leaves its finished rows).</summary>
    public Func<NiahRunResult, CancellationToken, Task>? Checkpoint { get; init; }

    public async Task<NiahRunResult> RunAsync(NiahConfig config, bool quick, IProgress<NiahProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Kind == NiahKind.Image)
        {
            return await new ImageNiahRunner(model).RunAsync(config, quick, progress, cancellationToken).ConfigureAwait(false);
        }

        NiahHaystackSource source = await NiahHaystackSource.OpenAsync(config, cancellationToken).ConfigureAwait(false);
        return await RunAsync(config, source, quick, progress, cancellationToken).ConfigureAwait(false);
    }

    public async Task<NiahRunResult> RunAsync(NiahConfig config, NiahHaystackSource source, bool quick, IProgress<NiahProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(source);
        DateTimeOffset started = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        NiahModelInfo info = model.Info;
        IReadOnlyList<int> counts = config.GridFrameCounts();
        IReadOnlyList<double> depths = config.GridDepths();
        int clip = info.ClipLength;
        if (counts.Any(c => c % clip != 0))
        {
            throw new VideoLongException($"NIAH: the model merges clips of {clip} frames; every frame count must be a multiple of {clip} (got {string.Join(", ", counts)}).");
        }

        int wanted = Math.Min(counts.Max(), config.Haystack?.MaxEncodedFrames ?? int.MaxValue);
        int encodeFrames = Math.Min(wanted, source.AvailableFrames) / clip * clip;
        if (encodeFrames < 1)
        {
            throw new VideoLongException($"NIAH haystack '{source.Description}' has {source.AvailableFrames} frames at its sampling; at least {clip} are needed.");
        }

        progress?.Report(new NiahProgress("haystack", 0, encodeFrames));
        var encodeWatch = Stopwatch.StartNew();
        (NiahVisualTokens haystack, bool fromCache, string key) = await HaystackAsync(source, encodeFrames, progress, cancellationToken).ConfigureAwait(false);
        using NiahVisualTokens haystackTokens = haystack;
        var provenance = new NiahHaystackProvenance
        {
            Source = source.Description,
            Decoder = source.Decoder,
            Sampling = source.Sampling,
            SampledTimestamps = source.Timestamps(encodeFrames),
            EncodedFrames = encodeFrames,
        };

        int needleFrameCount = 0;
        var trials = new List<NiahTrial>();
        var multihop = new List<NiahMultihopSummary>();
        if (config.Kind == NiahKind.SingleHop)
        {
            var needles = new List<(NiahNeedle Needle, string Name, NiahVisualTokens Tokens)>();
            try
            {
                for (int i = 0; i < config.Needles.Count; i++)
                {
                    NiahNeedle needle = config.Needles[i];
                    NiahVisualTokens tokens = await EncodeNeedleAsync(config, needle, cancellationToken).ConfigureAwait(false);
                    needleFrameCount += tokens.Frames;
                    needles.Add((needle, needle.Name ?? $"needle-{i + 1}", tokens));
                }

                double encodeSeconds = encodeWatch.Elapsed.TotalSeconds;
                int total = counts.Count * depths.Count * needles.Count, done = 0;
                progress?.Report(new NiahProgress("trials", 0, total));
                foreach (int frames in counts)
                {
                    foreach (double depth in depths)
                    {
                        int at = NiahGridMath.InsertionIndex(depth, frames);
                        foreach ((NiahNeedle needle, string name, NiahVisualTokens tokens) in needles)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            var trialWatch = Stopwatch.StartNew();
                            using Tensor visual = Assemble(haystackTokens, frames, [(at, tokens)]);
                            NiahTrial trial = await AskAsync(model, config, needle, visual, cancellationToken).ConfigureAwait(false);
                            trials.Add(trial with
                            {
                                Frames = frames,
                                Depth = depth,
                                Needle = name,
                                InsertedBefore = at,
                                InsertedBeforeSeconds = at < frames ? provenance.SampledTimestamps[NiahGridMath.SourceFrame(at, encodeFrames)] : null,
                                Seconds = trialWatch.Elapsed.TotalSeconds,
                            });
                            progress?.Report(new NiahProgress("trials", ++done, total));
                        }
                    }

                    if (Checkpoint is not null && frames != counts[^1])
                    {
                        await Checkpoint(Result(config, quick, info, provenance, Stats(), counts, depths, trials, [], started, watch) with { Complete = false },
                            cancellationToken).ConfigureAwait(false);
                    }
                }

                return Result(config, quick, info, provenance, Stats(), counts, depths, trials, [], started, watch);

                NiahEncodingStats Stats() => new()
                {
                    HaystackFrames = fromCache ? 0 : encodeFrames,
                    HaystackFromCache = fromCache,
                    HaystackCacheKey = key,
                    NeedleFrames = needleFrameCount,
                    EncodeSeconds = encodeSeconds,
                };
            }
            finally
            {
                foreach ((_, _, NiahVisualTokens tokens) in needles)
                {
                    tokens.Dispose();
                }
            }
        }

        // Multi-hop: each sample's needles (chain + distractors) shuffled by the seed, at equal spacing; two questions.
        var encoded = new Dictionary<NiahNeedle, NiahVisualTokens>(ReferenceEqualityComparer.Instance);
        try
        {
            foreach (NiahMultihopSample sample in config.Multihop)
            {
                foreach (NiahNeedle needle in sample.Chain.Concat(sample.Distractors))
                {
                    if (!encoded.ContainsKey(needle))
                    {
                        NiahVisualTokens tokens = await EncodeNeedleAsync(config, needle, cancellationToken).ConfigureAwait(false);
                        needleFrameCount += tokens.Frames;
                        encoded[needle] = tokens;
                    }
                }
            }

            double encodeSeconds = encodeWatch.Elapsed.TotalSeconds;
            int total = counts.Count * config.Multihop.Count * 2, done = 0;
            progress?.Report(new NiahProgress("trials", 0, total));
            foreach (int frames in counts)
            {
                var pairs = new List<(bool Caption, bool Qa)>();
                for (int s = 0; s < config.Multihop.Count; s++)
                {
                    NiahMultihopSample sample = config.Multihop[s];
                    NiahNeedle[] all = [.. sample.Chain, .. sample.Distractors];
                    string[] names = all.Select((n, k) => n.Name ?? (k < sample.Chain.Count ? $"chain-{k + 1}" : $"distractor-{k - sample.Chain.Count + 1}")).ToArray();
                    int[] order = Enumerable.Range(0, all.Length).ToArray();
                    new Random(MixSeed(config.Seed, s, frames)).Shuffle(order);
                    (int Start, int End)[] slices = NiahGridMath.MultihopSlices(frames, order.Length);
                    var inserts = new List<(int, NiahVisualTokens)>();
                    for (int k = 0; k < order.Length; k++)
                    {
                        inserts.Add((slices[k].End, encoded[all[order[k]]]));
                    }

                    using Tensor visual = Assemble(haystackTokens, frames, inserts);
                    var results = new bool[2];
                    foreach ((NiahNeedle question, string part, int p) in new[] { (sample.Caption!, "caption", 0), (sample.Qa!, "qa", 1) })
                    {
                        var trialWatch = Stopwatch.StartNew();
                        NiahTrial trial = await AskAsync(model, config, question, visual, cancellationToken).ConfigureAwait(false);
                        results[p] = trial.Score > 0.5;
                        trials.Add(trial with
                        {
                            Frames = frames,
                            Depth = p,
                            Needle = $"sample-{s + 1}",
                            Part = part,
                            Order = order.Select(k => names[k]).ToArray(),
                            InsertedBefore = 0,
                            Seconds = trialWatch.Elapsed.TotalSeconds,
                        });
                        progress?.Report(new NiahProgress("trials", ++done, total));
                    }

                    pairs.Add((results[0], results[1]));
                }

                double n = pairs.Count;
                multihop.Add(new NiahMultihopSummary(frames,
                    Overall: pairs.Sum(p => (p.Caption ? 1 : 0) + (p.Qa ? 1 : 0)) / (2 * n),
                    Caption: pairs.Count(p => p.Caption) / n,
                    Qa: pairs.Count(p => p.Qa) / n,
                    Both: pairs.Count(p => p.Caption && p.Qa) / n,
                    OnlyCaption: pairs.Count(p => p.Caption && !p.Qa) / n,
                    OnlyQa: pairs.Count(p => !p.Caption && p.Qa) / n,
                    Neither: pairs.Count(p => !p.Caption && !p.Qa) / n));
            }

            return Result(config, quick, info, provenance, new NiahEncodingStats
            {
                HaystackFrames = fromCache ? 0 : encodeFrames,
                HaystackFromCache = fromCache,
                HaystackCacheKey = key,
                NeedleFrames = needleFrameCount,
                EncodeSeconds = encodeSeconds,
            }, counts, [0, 1], trials, multihop, started, watch) with { YLabel = "Question", YTickLabels = ["caption", "QA"] };
        }
        finally
        {
            foreach (NiahVisualTokens tokens in encoded.Values)
            {
                tokens.Dispose();
            }
        }
    }

    /// <summary>
    /// The visual sequence of a trial: haystack frames 0…F−1 (tiled when longer than the encoded haystack) with each
    /// insert's blocks placed before haystack frame <c>at</c> (F = after the last), then the trailer. [N, H].
    /// </summary>
    public static Tensor Assemble(NiahVisualTokens haystack, int frames, IReadOnlyList<(int At, NiahVisualTokens Tokens)> inserts)
    {
        ArgumentNullException.ThrowIfNull(haystack);
        ArgumentNullException.ThrowIfNull(inserts);
        using DisposeScope scope = NewDisposeScope();
        Tensor blocks = haystack.Blocks;                                          // [Fe, t, H]
        long hidden = blocks.shape[2];
        int available = haystack.Frames;
        var pieces = new List<Tensor>();
        int cursor = 0;
        foreach ((int at, NiahVisualTokens tokens) in inserts.OrderBy(i => i.At))
        {
            if (at < cursor || at > frames)
            {
                throw new ArgumentOutOfRangeException(nameof(inserts), $"Insert position {at} is outside 0..{frames}.");
            }

            if (at > cursor)
            {
                pieces.Add(HaystackSlice(blocks, cursor, at, available).reshape(-1, hidden));
            }

            pieces.Add(tokens.Blocks.to(blocks.device).to(blocks.dtype).reshape(-1, hidden));
            cursor = at;
        }

        if (cursor < frames)
        {
            pieces.Add(HaystackSlice(blocks, cursor, frames, available).reshape(-1, hidden));
        }

        pieces.Add(haystack.Trailer.to(blocks.device).to(blocks.dtype));
        return cat(pieces, 0).MoveToOuterDisposeScope();
    }

    private static Tensor HaystackSlice(Tensor blocks, int start, int end, int available)
    {
        if (end <= available)
        {
            return blocks.narrow(0, start, end - start);
        }

        long[] index = Enumerable.Range(start, end - start).Select(i => (long)NiahGridMath.SourceFrame(i, available)).ToArray();
        using Tensor idx = tensor(index, ScalarType.Int64).to(blocks.device);
        return blocks.index_select(0, idx);
    }

    /// <summary>One question over a visual-token sequence, scored as the config says; the caller fills in where the needle was.</summary>
    internal static async Task<NiahTrial> AskAsync(INiahModel model, NiahConfig config, NiahNeedle needle, Tensor visual, CancellationToken cancellationToken)
    {
        string question = NiahScore.Prompt(needle);
        string? generated = null;
        bool? generatedCorrect = null;
        TeacherForcedResult? forced = null;
        if (config.Scoring is NiahScoring.Generate or NiahScoring.Both)
        {
            generated = await model.AnswerAsync(visual, question, config.MaxNewTokens, cancellationToken).ConfigureAwait(false);
            generatedCorrect = NiahScore.IsCorrect(needle, generated);
        }

        if (config.Scoring is NiahScoring.TeacherForced or NiahScoring.Both)
        {
            forced = await model.TeacherForcedAsync(visual, question, NiahScore.TeacherForcedAnswer(needle), cancellationToken).ConfigureAwait(false);
            if (forced is null && config.Scoring == NiahScoring.TeacherForced)
            {
                throw new VideoLongException($"NIAH: the model {model.Info.Model} exposes no logits; use \"scoring\": \"generate\".");
            }
        }

        double score = forced is not null ? (forced.AllCorrect ? 1 : 0) : generatedCorrect == true ? 1 : 0;
        return new NiahTrial
        {
            Frames = 0,
            Depth = 0,
            Needle = "",
            InsertedBefore = 0,
            VisualTokens = (int)visual.shape[0],
            Question = question,
            Expected = NiahScore.TeacherForcedAnswer(needle),
            Generated = generated,
            GeneratedCorrect = generatedCorrect,
            TeacherForced = forced?.PredictedText,
            TeacherForcedCorrect = forced?.AllCorrect,
            TeacherForcedTokenAccuracy = forced?.TokenAccuracy,
            Score = score,
        };
    }

    private async Task<(NiahVisualTokens Tokens, bool FromCache, string Key)> HaystackAsync(NiahHaystackSource source, int frames, IProgress<NiahProgress>? progress,
        CancellationToken cancellationToken)
    {
        NiahModelInfo info = model.Info;
        ArtifactKey? key = cache is null ? null : ArtifactKey.For(source.ContentHash, HaystackKind)
            .Add("sampling", source.Sampling)
            .Add("frames", frames)
            .Add("model", info.Fingerprint)
            .Add("tokens-per-frame", info.TokensPerFrame)
            .Add("clip", info.ClipLength)
            .Add("frame-size", info.FrameSize)
            .Build();
        Device device = new(info.Device);
        if (cache is not null && key is { } k)
        {
            using Tensor? stored = await VisualTokensArtifact.TryLoadAsync(cache, k, null, cancellationToken).ConfigureAwait(false);
            if (stored is not null && stored.shape[0] >= (long)frames * info.TokensPerFrame)
            {
                using DisposeScope scope = NewDisposeScope();
                long rows = (long)frames * info.TokensPerFrame;
                Tensor blocks = stored.narrow(0, 0, rows).reshape(frames, info.TokensPerFrame, -1).to(device).contiguous();
                Tensor trailer = stored.narrow(0, rows, stored.shape[0] - rows).to(device).contiguous();
                progress?.Report(new NiahProgress("haystack", frames, frames));
                return (new NiahVisualTokens(blocks.MoveToOuterDisposeScope(), trailer.MoveToOuterDisposeScope()), true, k.Hex);
            }
        }

        int chunk = Math.Max(info.ClipLength, EncodeChunkFrames / info.ClipLength * info.ClipLength);
        var blockPieces = new List<Tensor>();
        Tensor? lastTrailer = null;
        var batch = new List<VideoFrame>(chunk);
        int done = 0;
        try
        {
            await foreach (VideoFrame frame in source.ReadAsync(frames, info.FrameSize, cancellationToken).ConfigureAwait(false))
            {
                batch.Add(frame);
                if (batch.Count == chunk)
                {
                    lastTrailer = await EncodeBatchAsync(batch, blockPieces, lastTrailer, cancellationToken).ConfigureAwait(false);
                    done += chunk;
                    progress?.Report(new NiahProgress("haystack", done, frames));
                }
            }

            if (batch.Count > 0)
            {
                lastTrailer = await EncodeBatchAsync(batch, blockPieces, lastTrailer, cancellationToken).ConfigureAwait(false);
            }

            if (lastTrailer is null || blockPieces.Sum(p => p.shape[0]) != frames)
            {
                throw new VideoLongException($"NIAH haystack '{source.Description}' delivered {blockPieces.Sum(p => p.shape[0])} of {frames} frames.");
            }

            Tensor blocks = cat(blockPieces, 0);
            var tokens = new NiahVisualTokens(blocks, lastTrailer);
            lastTrailer = null;
            progress?.Report(new NiahProgress("haystack", frames, frames));
            if (cache is not null && key is { } put)
            {
                using Tensor flat = cat([blocks.reshape(-1, blocks.shape[2]), tokens.Trailer], 0);
                await cache.PutAsync(put, HaystackKind, (stream, ct) => VisualTokensArtifact.WriteAsync(stream, flat, TensorDtype.F32, ct), cancellationToken).ConfigureAwait(false);
            }

            return (tokens, false, key?.Hex ?? "");
        }
        finally
        {
            foreach (Tensor piece in blockPieces)
            {
                piece.Dispose();
            }

            lastTrailer?.Dispose();
            foreach (VideoFrame frame in batch)
            {
                frame.Dispose();
            }
        }
    }

    private async Task<Tensor> EncodeBatchAsync(List<VideoFrame> batch, List<Tensor> blockPieces, Tensor? lastTrailer, CancellationToken cancellationToken)
    {
        int clip = model.Info.ClipLength;
        int real = batch.Count;
        while (batch.Count % clip != 0)
        {
            batch.Add(batch[^1]);   // never happens for a whole haystack (frames are a multiple of the clip); kept for safety
        }

        NiahVisualTokens encoded = await model.EncodeFramesAsync(batch, cancellationToken).ConfigureAwait(false);
        blockPieces.Add(encoded.Blocks.narrow(0, 0, real).contiguous());
        encoded.Blocks.Dispose();
        lastTrailer?.Dispose();
        foreach (VideoFrame f in batch.Distinct())
        {
            f.Dispose();
        }

        batch.Clear();
        return encoded.Trailer;
    }

    /// <summary>A needle's frames (image or text repeated to fill its frames, or a clip's frames padded to the clip length), encoded once.</summary>
    private async Task<NiahVisualTokens> EncodeNeedleAsync(NiahConfig config, NiahNeedle needle, CancellationToken cancellationToken)
    {
        NiahModelInfo info = model.Info;
        int size = info.FrameSize;
        var frames = new List<VideoFrame>();
        if (needle.Clip is { } clipPath)
        {
            var source = await VideoHaystack.OpenAsync(config.Resolve(clipPath), needle.ClipFps, cancellationToken).ConfigureAwait(false);
            await foreach (VideoFrame frame in source.ReadAsync(needle.ClipMaxFrames, size, cancellationToken).ConfigureAwait(false))
            {
                frames.Add(NiahFrames.FromRgb(frame.Rgb24, frame.Width, frame.Height, size));
                frame.Dispose();
            }
        }
        else
        {
            VideoFrame one = needle.Image is { } image ? NiahFrames.FromImageFile(config.Resolve(image), size) : NiahFrames.RenderText(needle, size);
            int repeat = config.NeedleFrames ?? info.ClipLength;
            frames.AddRange(Enumerable.Repeat(one, repeat));
        }

        while (frames.Count % info.ClipLength != 0)
        {
            frames.Add(frames[^1]);
        }

        return await model.EncodeFramesAsync(frames, cancellationToken).ConfigureAwait(false);
    }

    internal static int MixSeed(long seed, int a, int b) => unchecked((int)((seed * 1_000_003) ^ ((long)a * 7_919) ^ ((long)b * 104_729)));

    internal static NiahRunResult Result(NiahConfig config, bool quick, NiahModelInfo info, NiahHaystackProvenance? provenance, NiahEncodingStats encoding,
        IReadOnlyList<int> counts, IReadOnlyList<double> depths, List<NiahTrial> trials, List<NiahMultihopSummary> multihop, DateTimeOffset started, Stopwatch watch)
    {
        NiahCell[] cells = trials.GroupBy(t => (t.Frames, t.Depth))
            .Select(g => new NiahCell(g.Key.Frames, g.Key.Depth, g.Average(t => t.Score), g.Count()))
            .OrderBy(c => c.Frames).ThenBy(c => c.Depth).ToArray();
        return new NiahRunResult
        {
            Name = config.Name,
            Kind = config.Kind,
            Seed = config.Seed,
            Quick = quick,
            Scoring = config.Scoring,
            Model = info,
            Haystack = provenance,
            Encoding = encoding,
            FrameCounts = counts,
            Depths = depths,
            Trials = trials.ToArray(),                 // a snapshot: a checkpoint's list must not grow with the run
            Cells = cells,
            Multihop = multihop.ToArray(),
            Overall = cells.Length == 0 ? 0 : cells.Average(c => c.Score),
            Started = started,
            Seconds = watch.Elapsed.TotalSeconds,
        };
    }
}
