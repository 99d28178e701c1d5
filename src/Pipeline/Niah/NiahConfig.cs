using System.Text.Json;
using System.Text.Json.Serialization;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Niah;

/// <summary>Which protocol a NIAH config runs.</summary>
public enum NiahKind
{
    /// <summary>One needle per trial, inserted at depth d before haystack frame ⌊d·F⌋ (LongVA, VideoChat-Flash single-hop).</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("single")]
    SingleHop,

    /// <summary>Chained needles with distractors at equal spacing; caption and QA questions (VideoChat-Flash multi-hop).</summary>
    Multihop,

    /// <summary>A needle patch at a position in a large image, read through the Ingest region grid.</summary>
    Image,
}

/// <summary>How a trial is scored.</summary>
public enum NiahScoring
{
    /// <summary>Generated answer, normalised exact match.</summary>
    Generate,

    /// <summary>Teacher-forced argmax at the answer positions, correct iff every answer token matches (LongVA).</summary>
    TeacherForced,

    /// <summary>Both; the trial's score is the teacher-forced one when the model exposes logits.</summary>
    Both,
}

/// <summary>A needle: an image file, a short clip or text rendered into a frame, with its question and answer.</summary>
public sealed record NiahNeedle
{
    /// <summary>Image file (PNG, JPEG, …).</summary>
    public string? Image { get; init; }

    /// <summary>A short video clip (decoded at <see cref="ClipFps"/>).</summary>
    public string? Clip { get; init; }

    /// <summary>Text drawn into a frame.</summary>
    public string? Text { get; init; }

    /// <summary>
    /// How <see cref="Text"/> is drawn: "sans" (default: DejaVu Sans, black on white, wrapped) or "glyphs" (the 5×7 bitmap
    /// font of VideoLong-Tiny's training data, yellow on a dark frame, at an integer scale: the needle that model reads).
    /// </summary>
    public string? Font { get; init; }

    public double ClipFps { get; init; } = 1.0;

    /// <summary>Most frames taken from a clip.</summary>
    public int ClipMaxFrames { get; init; } = 8;

    public string Question { get; init; } = "";

    /// <summary>The answer: a short text, or for multiple choice the option's letter (or its text).</summary>
    public string Answer { get; init; } = "";

    /// <summary>Multiple-choice options; lettered A, B, C … in this order.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];

    /// <summary>A short name for reports; default: needle-N.</summary>
    public string? Name { get; init; }
}

/// <summary>Where the haystack frames come from.</summary>
public sealed record NiahHaystack
{
    /// <summary>A video file, decoded through Ingest at <see cref="Fps"/>.</summary>
    public string? Video { get; init; }

    /// <summary>A folder written by <c>videolong frames --out DIR</c> (manifest.json and image files).</summary>
    public string? Frames { get; init; }

    /// <summary>Sampling rate for a video (1 fps in every published protocol).</summary>
    public double Fps { get; init; } = 1.0;

    /// <summary>Encode at most this many haystack frames and tile them to reach longer haystacks (VideoChat-Flash: ~5,000 above 7,500).</summary>
    public int? MaxEncodedFrames { get; init; }
}

/// <summary>An inclusive range of haystack lengths.</summary>
public sealed record NiahRange(int Min, int Max, int Step);

/// <summary>A multi-hop sample: a chain of needles whose texts point to the next, distractors, and two questions about the final frame.</summary>
public sealed record NiahMultihopSample
{
    /// <summary>The chain: each needle's text points to the next; the last is the final frame.</summary>
    public IReadOnlyList<NiahNeedle> Chain { get; init; } = [];

    /// <summary>Needles whose instructions lead nowhere.</summary>
    public IReadOnlyList<NiahNeedle> Distractors { get; init; } = [];

    /// <summary>Q1: choose the caption of the final frame.</summary>
    public NiahNeedle? Caption { get; init; }

    /// <summary>Q2: a question about the final frame.</summary>
    public NiahNeedle? Qa { get; init; }
}

/// <summary>The gigapixel haystack: image sizes × needle positions.</summary>
public sealed record NiahImageSettings
{
    /// <summary>A large image file (tiled TIFF …), of which the top-left size² is used for each size; null for a procedural background built lazily with libvips.</summary>
    public string? Background { get; init; }

    /// <summary>Square image sides in pixels (the procedural background is made at each size).</summary>
    public IReadOnlyList<int> Sizes { get; init; } = [];

    /// <summary>Needle centres as fractions (x, y) of the image.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Positions { get; init; } = [];

    /// <summary>Region side of the Ingest region grid; each region becomes one frame of tokens.</summary>
    public int RegionSize { get; init; } = 4096;

    /// <summary>Needle patch side in image pixels.</summary>
    public int NeedleSize { get; init; } = 1024;
}

/// <summary>Grid overrides used by <c>--quick</c>.</summary>
public sealed record NiahQuick
{
    public IReadOnlyList<int>? FrameCounts { get; init; }

    public IReadOnlyList<double>? Depths { get; init; }

    public int? Needles { get; init; }

    public IReadOnlyList<int>? ImageSizes { get; init; }

    public int? RegionSize { get; init; }

    public int? NeedleSize { get; init; }
}

/// <summary>A NIAH benchmark: haystack, grid, needles, model and scoring. Relative paths are relative to the config file.</summary>
public sealed record NiahConfig
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string Name { get; init; } = "niah";

    public NiahKind Kind { get; init; } = NiahKind.SingleHop;

    public string? Model { get; init; }

    public string? Tokenizer { get; init; }

    public string? Device { get; init; }

    public long Seed { get; init; } = 1234;

    public NiahHaystack? Haystack { get; init; }

    /// <summary>Haystack lengths in frames; or <see cref="FrameRange"/>.</summary>
    public IReadOnlyList<int>? FrameCounts { get; init; }

    public NiahRange? FrameRange { get; init; }

    /// <summary>Depths in [0, 1]; or <see cref="DepthSteps"/> evenly spaced values from 0 to 1.</summary>
    public IReadOnlyList<double>? Depths { get; init; }

    public int? DepthSteps { get; init; }

    public IReadOnlyList<NiahNeedle> Needles { get; init; } = [];

    /// <summary>Frames a needle image occupies (default: the clip length with HiCo merging, else 1).</summary>
    public int? NeedleFrames { get; init; }

    public NiahScoring Scoring { get; init; } = NiahScoring.Both;

    public int MaxNewTokens { get; init; } = 16;

    public CompressionSettings Compression { get; init; } = new();

    public IReadOnlyList<NiahMultihopSample> Multihop { get; init; } = [];

    public NiahImageSettings? Image { get; init; }

    public NiahQuick? Quick { get; init; }

    /// <summary>The folder relative paths are resolved against (the config file's folder); not read from JSON.</summary>
    [JsonIgnore]
    public string BaseDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>Reads and validates a config file.</summary>
    /// <exception cref="VideoLongException">The file is missing, not JSON, or not a valid config.</exception>
    public static NiahConfig Load(string path)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new VideoLongException($"NIAH config '{path}' does not exist; give a JSON file such as samples/niah/quick.json.");
        }

        return Parse(File.ReadAllText(full), Path.GetDirectoryName(full)!, path);
    }

    /// <summary>Parses and validates a config; <paramref name="baseDirectory"/> resolves relative paths.</summary>
    public static NiahConfig Parse(string json, string baseDirectory, string source = "config")
    {
        NiahConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<NiahConfig>(json, Json);
        }
        catch (JsonException e)
        {
            throw new VideoLongException($"NIAH config '{source}' is not valid: {e.Message} (see samples/niah/*.json for the accepted fields).", e);
        }

        if (config is null)
        {
            throw new VideoLongException($"NIAH config '{source}' is empty; expected a JSON object.");
        }

        config = config with { BaseDirectory = baseDirectory };
        config.Validate();
        return config;
    }

    /// <summary>A path of the config, resolved against <see cref="BaseDirectory"/>.</summary>
    public string Resolve(string path) => Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(BaseDirectory, path));

    /// <summary>Every file or folder the config reads (resolved): haystack, needle images and clips, image background.</summary>
    public IEnumerable<string> ReferencedPaths()
    {
        string?[] direct = [Haystack?.Video, Haystack?.Frames, Image?.Background];
        IEnumerable<NiahNeedle> needles = Needles.Concat(Multihop.SelectMany(s => s.Chain.Concat(s.Distractors)));
        return direct.Concat(needles.SelectMany(n => new[] { n.Image, n.Clip })).OfType<string>().Select(Resolve);
    }

    /// <summary>The haystack lengths of the grid, ascending.</summary>
    public IReadOnlyList<int> GridFrameCounts()
    {
        if (FrameCounts is { Count: > 0 } counts)
        {
            return counts;
        }

        return FrameRange is { } r ? NiahGridMath.Range(r.Min, r.Max, r.Step) : [];
    }

    /// <summary>The depths of the grid.</summary>
    public IReadOnlyList<double> GridDepths()
    {
        if (Depths is { Count: > 0 } depths)
        {
            return depths;
        }

        return DepthSteps is { } n ? NiahGridMath.EvenDepths(n) : [0, 0.2, 0.4, 0.6, 0.8, 1.0];
    }

    /// <summary>This config with the <c>--quick</c> grid applied.</summary>
    public NiahConfig ApplyQuick()
    {
        NiahQuick q = Quick ?? new NiahQuick();
        NiahConfig quick = this with
        {
            FrameCounts = q.FrameCounts ?? GridFrameCounts().Take(2).ToArray(),
            FrameRange = null,
            Depths = q.Depths ?? [0, 0.5, 1],
            DepthSteps = null,
            Needles = Needles.Take(q.Needles ?? 2).ToArray(),
            Multihop = Multihop.Take(q.Needles ?? 1).ToArray(),
            Image = Image is null ? null : Image with
            {
                Sizes = q.ImageSizes ?? Image.Sizes.Take(1).ToArray(),
                Positions = Image.Positions.Take(2).ToArray(),
                RegionSize = q.RegionSize ?? Image.RegionSize,
                NeedleSize = q.NeedleSize ?? Image.NeedleSize,
                Background = q.ImageSizes is null ? Image.Background : null,
            },
        };
        quick.Validate();
        return quick;
    }

    /// <summary>Checks the config; the message names the field and what is accepted.</summary>
    public void Validate()
    {
        static VideoLongException Bad(string message) => new($"Invalid NIAH config: {message}");
        if (string.IsNullOrWhiteSpace(Name) || Name.Length > 100)
        {
            throw Bad("name must be 1-100 characters.");
        }

        if (MaxNewTokens is < 1 or > 512)
        {
            throw Bad($"maxNewTokens {MaxNewTokens} must be 1-512.");
        }

        if (NeedleFrames is { } nf && (nf < 1 || nf > 64))
        {
            throw Bad($"needleFrames {nf} must be 1-64.");
        }

        if (Compression.TokensPerFrame is { } tpf && (tpf < 1 || tpf > 4096))
        {
            throw Bad($"compression.tokensPerFrame {tpf} must be 1-4096.");
        }

        if (FrameRange is { } r && (r.Min < 1 || r.Step < 1 || r.Max < r.Min))
        {
            throw Bad($"frameRange {{min {r.Min}, max {r.Max}, step {r.Step}}} needs 1 ≤ min ≤ max and step ≥ 1 (e.g. 200, 3000, 200).");
        }

        if (DepthSteps is { } ds && (ds < 2 || ds > 101))
        {
            throw Bad($"depthSteps {ds} must be 2-101 (6 gives 0, 0.2, …, 1).");
        }

        foreach (double d in GridDepths())
        {
            if (!(d >= 0 && d <= 1))
            {
                throw Bad($"depth {d} is outside [0, 1]; depths are fractions of the haystack.");
            }
        }

        if (Kind == NiahKind.Image)
        {
            ValidateImage();
            return;
        }

        if (Haystack is null || (Haystack.Video is null) == (Haystack.Frames is null))
        {
            throw Bad("haystack needs exactly one of \"video\" (a video file) and \"frames\" (a folder written by `videolong frames --out DIR`).");
        }

        if (!(Haystack.Fps > 0 && Haystack.Fps <= 60))
        {
            throw Bad($"haystack.fps {Haystack.Fps} must be in (0, 60] (1 in the published protocols).");
        }

        if (Haystack.MaxEncodedFrames is { } m && m < 1)
        {
            throw Bad($"haystack.maxEncodedFrames {m} must be ≥ 1.");
        }

        IReadOnlyList<int> counts = GridFrameCounts();
        if (counts.Count == 0)
        {
            throw Bad("give the haystack lengths as \"frameCounts\": [200, 400, …] or \"frameRange\": {\"min\": 200, \"max\": 3000, \"step\": 200}.");
        }

        if (counts.Any(c => c < 1 || c > 100_000))
        {
            throw Bad($"frame counts must be 1-100000; got {string.Join(", ", counts)}.");
        }

        int clip = Compression.TokensPerFrame is null ? 1 : 4;
        if (counts.Any(c => c % clip != 0))
        {
            throw Bad($"with HiCo merging (compression.tokensPerFrame) every frame count must be a multiple of the clip length {clip}; got {string.Join(", ", counts)}.");
        }

        if (Kind == NiahKind.SingleHop)
        {
            if (Needles.Count == 0)
            {
                throw Bad("\"needles\" is empty; give at least one needle with an image, clip or text, a question and an answer.");
            }

            for (int i = 0; i < Needles.Count; i++)
            {
                ValidateNeedle(Needles[i], $"needles[{i}]", requireQuestion: true);
            }
        }
        else
        {
            if (Multihop.Count == 0)
            {
                throw Bad("a multihop config needs \"multihop\": [ { \"chain\": […], \"distractors\": […], \"caption\": {…}, \"qa\": {…} } ].");
            }

            for (int i = 0; i < Multihop.Count; i++)
            {
                NiahMultihopSample s = Multihop[i];
                if (s.Chain.Count < 1)
                {
                    throw Bad($"multihop[{i}].chain needs at least one needle (the final frame last).");
                }

                foreach ((NiahNeedle n, int k) in s.Chain.Concat(s.Distractors).Select((n, k) => (n, k)))
                {
                    ValidateNeedle(n, $"multihop[{i}] needle {k}", requireQuestion: false);
                }

                if (s.Caption is null || s.Qa is null)
                {
                    throw Bad($"multihop[{i}] needs both \"caption\" and \"qa\" questions (multiple choice).");
                }

                ValidateQuestion(s.Caption, $"multihop[{i}].caption");
                ValidateQuestion(s.Qa, $"multihop[{i}].qa");
            }
        }
    }

    private void ValidateImage()
    {
        if (Image is null)
        {
            throw new VideoLongException("Invalid NIAH config: kind \"image\" needs \"image\": { \"sizes\": [40000], \"positions\": [[0.5, 0.5]], \"regionSize\": 4096, \"needleSize\": 1024 }.");
        }

        if (Image.Sizes.Count == 0 || Image.Sizes.Any(s => s < 64 || s > 200_000))
        {
            throw new VideoLongException($"Invalid NIAH config: image.sizes must list image sides of 64-200000 px; got [{string.Join(", ", Image.Sizes)}].");
        }

        if (Image.Positions.Count == 0 || Image.Positions.Any(p => p.Count != 2 || p.Any(v => !(v >= 0 && v <= 1))))
        {
            throw new VideoLongException("Invalid NIAH config: image.positions must list [x, y] pairs of fractions in [0, 1].");
        }

        if (Image.RegionSize < 16 || Image.NeedleSize < 1 || Image.Sizes.Any(s => Image.NeedleSize > s))
        {
            throw new VideoLongException($"Invalid NIAH config: image.regionSize {Image.RegionSize} must be ≥ 16 and image.needleSize {Image.NeedleSize} between 1 and the smallest image side.");
        }

        if (Image.Sizes.Any(s => (long)Math.Ceiling((double)s / Image.RegionSize) * Math.Ceiling((double)s / Image.RegionSize) > 20_000))
        {
            throw new VideoLongException($"Invalid NIAH config: image.regionSize {Image.RegionSize} makes more than 20000 regions for the largest image; use larger regions.");
        }

        if (Needles.Count == 0)
        {
            throw new VideoLongException("Invalid NIAH config: \"needles\" is empty; an image NIAH needs at least one needle (image or text) with a question and an answer.");
        }

        for (int i = 0; i < Needles.Count; i++)
        {
            ValidateNeedle(Needles[i], $"needles[{i}]", requireQuestion: true);
            if (Needles[i].Clip is not null)
            {
                throw new VideoLongException($"Invalid NIAH config: needles[{i}] is a clip; an image NIAH takes image or text needles.");
            }
        }
    }

    private static void ValidateNeedle(NiahNeedle needle, string where, bool requireQuestion)
    {
        int sources = (needle.Image is null ? 0 : 1) + (needle.Clip is null ? 0 : 1) + (needle.Text is null ? 0 : 1);
        if (sources != 1)
        {
            throw new VideoLongException($"Invalid NIAH config: {where} needs exactly one of \"image\", \"clip\" and \"text\".");
        }

        if (needle.Text is { Length: 0 or > 500 })
        {
            throw new VideoLongException($"Invalid NIAH config: {where}.text must be 1-500 characters.");
        }

        if (needle.Font is not (null or "sans" or "glyphs"))
        {
            throw new VideoLongException($"Invalid NIAH config: {where}.font '{needle.Font}' is not known; accepted: \"sans\" (default) or \"glyphs\".");
        }

        if (needle.Font is "glyphs" && (needle.Text is null || needle.Text.Length > 12 || !needle.Text.All(Training.Glyphs.Supports)))
        {
            throw new VideoLongException(
                $"Invalid NIAH config: {where}.font \"glyphs\" draws a text of 1-12 digits, letters A-Z and spaces; got {(needle.Text is null ? "no text" : $"'{needle.Text}'")}.");
        }

        if (needle.Clip is not null && (!(needle.ClipFps > 0) || needle.ClipMaxFrames is < 1 or > 64))
        {
            throw new VideoLongException($"Invalid NIAH config: {where} clipFps must be > 0 and clipMaxFrames 1-64.");
        }

        if (requireQuestion)
        {
            ValidateQuestion(needle, where);
        }
    }

    private static void ValidateQuestion(NiahNeedle needle, string where)
    {
        if (string.IsNullOrWhiteSpace(needle.Question) || string.IsNullOrWhiteSpace(needle.Answer))
        {
            throw new VideoLongException($"Invalid NIAH config: {where} needs a non-empty \"question\" and \"answer\".");
        }

        if (needle.Options.Count > 26 || needle.Options.Count == 1)
        {
            throw new VideoLongException($"Invalid NIAH config: {where}.options must list 2-26 choices (or none).");
        }

        if (needle.Options.Count > 0 && NiahScore.AnswerLetter(needle) is null)
        {
            throw new VideoLongException($"Invalid NIAH config: {where}.answer '{needle.Answer}' is neither an option letter (A-{(char)('A' + needle.Options.Count - 1)}) nor one of the options.");
        }
    }
}
