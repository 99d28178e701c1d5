using System.Text.Json;
using NetVips;
using VideoLong.Ingest;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Niah;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Tests.Niah;

/// <summary>A real <see cref="INiahModel"/> wrapped to count what goes through the encoder (not a stub: every call is forwarded).</summary>
internal sealed class CountingNiahModel(INiahModel inner) : INiahModel
{
    public List<int> EncodeCalls { get; } = [];

    public int Answers { get; private set; }

    public NiahModelInfo Info => inner.Info;

    public Task<NiahVisualTokens> EncodeFramesAsync(IReadOnlyList<VideoFrame> frames, CancellationToken cancellationToken)
    {
        EncodeCalls.Add(frames.Count);
        return inner.EncodeFramesAsync(frames, cancellationToken);
    }

    public Task<string> AnswerAsync(Tensor visual, string question, int maxNewTokens, CancellationToken cancellationToken)
    {
        Answers++;
        return inner.AnswerAsync(visual, question, maxNewTokens, cancellationToken);
    }

    public Task<TeacherForcedResult?> TeacherForcedAsync(Tensor visual, string question, string answer, CancellationToken cancellationToken) =>
        inner.TeacherForcedAsync(visual, question, answer, cancellationToken);
}

/// <summary>The tiny fixture model, a frames folder made with libvips (as `videolong frames` writes one), and a temp folder.</summary>
internal sealed class NiahTestBed : IDisposable
{
    private readonly ModelRegistry _models;

    public NiahTestBed()
    {
        Directory.CreateDirectory(Root);
        _models = new ModelRegistry(new PipelineOptions { TokenizerDirectory = Fixtures.Dir("tokenizer"), DataDirectory = Path.Combine(Root, "data") });
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "videolong-niah-" + Guid.NewGuid().ToString("N")[..8]);

    public async Task<LoadedModel> ModelAsync() => await _models.GetAsync(Fixtures.Dir("llava_onevision"), CancellationToken.None);

    public async Task<LlavaNiahModel> NiahModelAsync(Contracts.CompressionSettings? compression = null) =>
        new(await ModelAsync(), compression ?? new Contracts.CompressionSettings());

    /// <summary>A frames folder of <paramref name="count"/> 48×40 frames with distinct colours, manifest in the `frames` verb's format.</summary>
    public string FramesFolder(int count, string name = "frames")
    {
        string folder = Path.Combine(Root, name);
        Directory.CreateDirectory(folder);
        var frames = new List<object>();
        for (int i = 0; i < count; i++)
        {
            string file = $"{i:D6}_{i:0.000}s.png";
            using Image black = Image.Black(48, 40, bands: 3);
            using Image coloured = black.Linear([1.0, 1.0, 1.0], [(i * 37) % 256, (i * 71) % 256, (i * 113) % 256]).Cast(Enums.BandFormat.Uchar);
            coloured.Pngsave(Path.Combine(folder, file));
            frames.Add(new { sampleIndex = i, frameIndex = i * 25, requestedSeconds = (double)i, ptsSeconds = (double)i, durationSeconds = 0.04, isKeyframe = false, approximate = false, file });
        }

        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(new
        {
            source = "generated", codec = "png", durationSeconds = (double)count, frameRate = 25.0, strategy = "fps=1", width = 48, height = 40, frames,
        }));
        return folder;
    }

    public void Dispose()
    {
        _models.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
