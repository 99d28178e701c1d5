using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Tests.Niah;

public sealed class When_a_niah_config_is_read
{
    private const string Needle = """{ "text": "The word is KIWI", "question": "Which word?", "answer": "kiwi" }""";

    private static NiahConfig Parse(string json) => NiahConfig.Parse(json, Path.GetTempPath());

    [Fact]
    public void The_sample_configs_are_valid_and_have_the_published_grids()
    {
        string samples = Path.Combine(Fixtures.Root, "..", "..", "..", "samples", "niah");
        NiahConfig longva = NiahConfig.Load(Path.Combine(samples, "longva.json"));
        Assert.Equal(15, longva.GridFrameCounts().Count);
        Assert.Equal(6, longva.GridDepths().Count);
        Assert.Equal(5, longva.Needles.Count);
        NiahConfig flash = NiahConfig.Load(Path.Combine(samples, "videochat-flash.json"));
        Assert.Equal(NiahGridMath.Range(1000, 10000, 1000), flash.GridFrameCounts());
        Assert.Equal(16, flash.Compression.TokensPerFrame);
        Assert.Equal(NiahKind.Multihop, NiahConfig.Load(Path.Combine(samples, "multihop.json")).Kind);
        NiahConfig image = NiahConfig.Load(Path.Combine(samples, "image.json"));
        Assert.Contains(40000, image.Image!.Sizes);
        NiahConfig quick = NiahConfig.Load(Path.Combine(samples, "quick.json")).ApplyQuick();
        Assert.Equal([16, 48], quick.GridFrameCounts());
        Assert.Equal(2, quick.Needles.Count);
    }

    [Theory]
    [InlineData("""{ "frameCounts": [8], "needles": [NEEDLE] }""", "haystack needs exactly one of")]
    [InlineData("""{ "haystack": { "video": "a.mp4", "frames": "dir" }, "frameCounts": [8], "needles": [NEEDLE] }""", "haystack needs exactly one of")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "needles": [NEEDLE] }""", "frameCounts")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [] }""", "\"needles\" is empty")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "depths": [0, 1.5], "needles": [NEEDLE] }""", "depth 1.5 is outside [0, 1]")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [6], "compression": { "tokensPerFrame": 16 }, "needles": [NEEDLE] }""", "multiple of the clip length 4")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameRange": { "min": 300, "max": 200, "step": 100 }, "needles": [NEEDLE] }""", "frameRange")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "text": "x", "image": "y.png", "question": "q", "answer": "a" }] }""", "exactly one of \"image\", \"clip\" and \"text\"")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "text": "x", "question": "q", "options": ["1", "2"], "answer": "C" }] }""", "neither an option letter")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "text": "x", "answer": "a" }] }""", "non-empty \"question\"")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [NEEDLE], "colour": "red" }""", "is not valid")]
    [InlineData("""{ "kind": "multihop", "haystack": { "video": "a.mp4" }, "frameCounts": [8] }""", "\"multihop\": [")]
    [InlineData("""{ "kind": "image", "needles": [NEEDLE] }""", "kind \"image\" needs")]
    [InlineData("""{ "kind": "image", "image": { "sizes": [1000], "positions": [[0.5]] }, "needles": [NEEDLE] }""", "[x, y] pairs")]
    [InlineData("""[1, 2]""", "is not valid")]
    public void A_bad_config_is_refused_with_what_is_wrong(string json, string message)
    {
        var error = Assert.Throws<VideoLongException>(() => Parse(json.Replace("NEEDLE", Needle, StringComparison.Ordinal)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Relative_paths_are_relative_to_the_config_file()
    {
        NiahConfig config = NiahConfig.Parse($$"""{ "haystack": { "frames": "frames" }, "frameCounts": [8], "needles": [{{Needle}}] }""", "/data/niah");
        Assert.Equal("/data/niah/frames", config.Resolve(config.Haystack!.Frames!));
        Assert.Equal("/abs/x", config.Resolve("/abs/x"));
    }
}
