using System.Globalization;
using System.Text;
using VideoLong.Contracts;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Artifacts;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// The caption stage: the video's duration cut into segments of <see cref="GenerateCaptions.SegmentSeconds"/> (the last
/// one shorter), and for each segment the language model over the visual tokens of the sampled frames that fall in it,
/// with a prompt that names the segment's time range. The cached tokens are laid out as the encoder writes them:
/// <c>t</c> tokens per frame in frame order, then one newline token for the video; a segment gets its frames' rows and
/// that newline. With the HiCo clip-level merge the tokens of a clip are not separable by frame, so a segment takes the
/// whole clips its frames belong to. A segment without sampled frames is kept, with <c>FrameCount = 0</c> and empty
/// text, so that the segments always cover the whole duration.
/// </summary>
public sealed class CaptionGenerator(ArtifactCache cache, ModelRegistry models)
{
    public const int MaxSegmentsLimit = 100_000;

    /// <summary>The half-open ranges [start, end) covering [0, duration]; the last ends at the duration.</summary>
    /// <exception cref="VideoLongException">The segment length is not positive, or there would be more than <paramref name="maxSegments"/> segments.</exception>
    public static IReadOnlyList<(double Start, double End)> Segments(double durationSeconds, double segmentSeconds, int maxSegments)
    {
        if (!(segmentSeconds > 0) || !double.IsFinite(segmentSeconds))
        {
            throw new VideoLongException($"Invalid segment length {segmentSeconds} s: give a positive number of seconds, e.g. 10.");
        }

        if (maxSegments is < 1 or > MaxSegmentsLimit)
        {
            throw new VideoLongException($"Invalid maximum of segments {maxSegments}: must be 1 to {MaxSegmentsLimit}.");
        }

        if (!(durationSeconds > 0) || !double.IsFinite(durationSeconds))
        {
            throw new VideoLongException($"The video has no duration ({durationSeconds} s); nothing to caption.");
        }

        // A last sliver shorter than a millisecond (rounding of the duration) is not a segment of its own.
        long count = Math.Max(1, (long)Math.Ceiling((durationSeconds - 1e-3) / segmentSeconds));
        if (count > maxSegments)
        {
            throw new VideoLongException(string.Create(CultureInfo.InvariantCulture,
                $"{durationSeconds:0.###} s in segments of {segmentSeconds:0.###} s makes {count} segments, more than the maximum {maxSegments}; use longer segments or raise the maximum."));
        }

        var segments = new (double, double)[count];
        for (long i = 0; i < count; i++)
        {
            segments[i] = (i * segmentSeconds, i == count - 1 ? durationSeconds : (i + 1) * segmentSeconds);
        }

        return segments;
    }

    /// <summary>The prompt of one segment.</summary>
    public static string PromptFor(double start, double end, int frames) => string.Create(CultureInfo.InvariantCulture,
        $"These {frames} frames were sampled from {Clock(start)} to {Clock(end)} of the video ({start:0.0} s to {end:0.0} s). Describe what happens in this part of the video in one or two sentences.");

    /// <summary><c>mm:ss</c>, or <c>h:mm:ss</c> from an hour on.</summary>
    public static string Clock(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Floor(Math.Max(0, seconds)));
        return t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes:00}:{t.Seconds:00}");
    }

    /// <param name="beforeSegment">Called with (segment index, segment count) before each segment; throws to stop (cancellation).</param>
    /// <param name="afterSegment">Called with (segments done, segment count) after each segment (progress).</param>
    public async Task<CaptionsGenerated> GenerateAsync(GenerateCaptions command, Func<int, int, Task>? beforeSegment, Func<int, int, Task>? afterSegment,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        IReadOnlyList<(double Start, double End)> segments = Segments(command.DurationSeconds, command.SegmentSeconds, command.MaxSegments);
        LoadedModel model = await models.GetAsync(command.Model, cancellationToken).ConfigureAwait(false);
        using Tensor visual = await VisualTokensArtifact.TryLoadAsync(cache, ArtifactRefs.KeyOf(command.VisualTokens), model.Model.LanguageModel.DType, cancellationToken).ConfigureAwait(false)
            ?? throw new VideoLongException($"Visual tokens {command.VisualTokens.Uri} are not in the cache (evicted?); encode the video again.");
        int frames = command.FrameTimestamps.Count;
        long rows = visual.shape[0];
        if (frames == 0 || (rows - 1) % frames != 0)
        {
            throw new VideoLongException($"{rows} visual tokens do not hold {frames} frames of equal size plus one newline token; encode the video again.");
        }

        long perFrame = (rows - 1) / frames;
        int clip = command.Compression.TokensPerFrame is null ? 1 : CompressionOptions.ToVlmOptions(command.Compression).ClipLength;
        var captions = new List<CaptionSegment>(segments.Count);
        for (int s = 0; s < segments.Count; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (beforeSegment is not null)
            {
                await beforeSegment(s, segments.Count).ConfigureAwait(false);
            }

            (double start, double end) = segments[s];
            bool last = s == segments.Count - 1;
            int[] inSegment = Enumerable.Range(0, frames)
                .Where(i => command.FrameTimestamps[i] >= start && (command.FrameTimestamps[i] < end || (last && command.FrameTimestamps[i] <= end + 1e-6)))
                .ToArray();
            string text = "";
            if (inSegment.Length > 0)
            {
                // Frames are in timestamp order, so a segment's frames are one run; with the merge, widen it to whole clips.
                int first = inSegment[0] / clip * clip, after = Math.Min(frames, (inSegment[^1] / clip * clip) + clip);
                using Tensor tokens = cat([visual.narrow(0, first * perFrame, (after - first) * perFrame), visual.narrow(0, rows - 1, 1)], 0);
                text = await CaptionAsync(model, tokens, PromptFor(start, end, inSegment.Length), command.Generation, cancellationToken).ConfigureAwait(false);
            }

            captions.Add(new CaptionSegment { StartSeconds = start, EndSeconds = end, Text = text, FrameCount = inSegment.Length });
            if (afterSegment is not null)
            {
                await afterSegment(s + 1, segments.Count).ConfigureAwait(false);
            }
        }

        return new CaptionsGenerated { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Segments = captions };
    }

    private static async Task<string> CaptionAsync(LoadedModel model, Tensor tokens, string prompt, GenerationSettings generation, CancellationToken cancellationToken)
    {
        Qwen2Tokenizer tokenizer = model.Tokenizer;
        int[] ids = ChatTemplate.Qwen2.Encode(tokenizer, [new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText(prompt)])], addGenerationPrompt: true);
        await model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            int[] expanded = PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [], [(int)tokens.shape[0]]).Ids;
            using Tensor embeds = VisualEmbeds.Splice(model.Model, expanded, model.Model.Config.VideoTokenIndex, tokens);
            return await VisualEmbeds.GenerateAsync(model, embeds, generation, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            model.Gate.Release();
        }
    }
}
