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
        NiahConfig digits = NiahConfig.Load(Path.Combine(samples, "tiny-digits-10k.json"));
        Assert.Equal(10000, digits.GridFrameCounts().Max());
        Assert.Equal(16, digits.Compression.V2peStride);
        Assert.All(digits.Needles, n => Assert.Equal("glyphs", n.Font));
        Assert.Null(NiahConfig.Load(Path.Combine(samples, "tiny-digits.json")).Compression.V2peStride);
        Assert.Equal(16, NiahConfig.Load(Path.Combine(samples, "tiny-digits-v2pe16.json")).Compression.V2peStride);
    }

    [Fact]
    public void A_glyph_needle_is_drawn_in_the_training_font_at_an_integer_scale()
    {
        using VideoLong.Ingest.VideoFrame frame = NiahFrames.RenderGlyphs("37", 64);
        Assert.Equal((64, 64), (frame.Width, frame.Height));
        byte[] rgb = frame.Rgb24;
        int yellow = 0;
        for (int i = 0; i < rgb.Length; i += 3)
        {
            yellow += rgb[i] == 235 && rgb[i + 1] == 220 && rgb[i + 2] == 40 ? 1 : 0;
        }

        // "3" and "7" of the 5×7 font at scale 3: every set glyph pixel becomes a 3×3 block.
        int set = 0;
        foreach (char c in "37")
        {
            for (int y = 0; y < VideoLong.Pipeline.Training.Glyphs.Height; y++)
            {
                for (int x = 0; x < VideoLong.Pipeline.Training.Glyphs.Width; x++)
                {
                    set += VideoLong.Pipeline.Training.Glyphs.IsSet(c, x, y) ? 1 : 0;
                }
            }
        }

        Assert.Equal(set * 9, yellow);
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
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "text": "42", "font": "serif", "question": "q", "answer": "42" }] }""", "font 'serif' is not known")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "text": "4,2", "font": "glyphs", "question": "q", "answer": "42" }] }""", "digits, letters A-Z and spaces")]
    [InlineData("""{ "haystack": { "video": "a.mp4" }, "frameCounts": [8], "needles": [{ "image": "a.png", "font": "glyphs", "question": "q", "answer": "42" }] }""", "got no text")]
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

public sealed class When_an_image_is_read_whole_for_a_frame
{
    [Fact]
    public void A_huge_image_is_refused_from_its_header_before_decoding()
    {
        // A PNG whose header claims 20000×20000 (400 MP) but holds a few bytes of data: the limit must hold before any decode.
        string path = Path.Combine(Path.GetTempPath(), $"videolong-huge-{Guid.NewGuid():N}.png");
        try
        {
            File.WriteAllBytes(path, PngHeader(20000, 20000));
            var error = Assert.Throws<VideoLongException>(() => NiahFrames.FromImageFile(path, 64, "Background frame"));
            Assert.Contains("Background frame", error.Message, StringComparison.Ordinal);
            Assert.True(error.Message.Contains("20000×20000", StringComparison.Ordinal), error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] PngHeader(int width, int height)
    {
        using var idat = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(idat, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(new byte[16]);                                                       // far fewer rows than the header claims
        }

        var png = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        png.AddRange(Chunk("IHDR", [.. BigEndian(width), .. BigEndian(height), 8, 2, 0, 0, 0]));   // 8-bit RGB, deflate, no filter, no interlace
        png.AddRange(Chunk("IDAT", idat.ToArray()));
        png.AddRange(Chunk("IEND", []));
        return [.. png];
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        return [.. BigEndian(data.Length), .. typed, .. BigEndian((int)Crc32(typed))];
    }

    private static byte[] BigEndian(int value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    private static uint Crc32(IEnumerable<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }
}
