using VideoLong.Pipeline.Artifacts;

namespace VideoLong.Pipeline.Tests.Artifacts;

public sealed class When_an_artifact_key_is_built
{
    private static ArtifactKeyBuilder Frames() => ArtifactKey.For(Keys.Source, ArtifactKinds.SampledFrames);

    [Fact]
    public void Equal_settings_in_any_order_give_the_same_key()
    {
        ArtifactKey a = Frames().Add("sampling", "fps").Add("fps", 1.0).Add("frames", 64).Add("size", "448x448").Add("resize", "Pad").Build();
        ArtifactKey b = Frames().Add("resize", "Pad").Add("frames", 64).Add("size", "448x448").Add("fps", 1.0).Add("sampling", "fps").Build();
        Assert.Equal(a, b);
        Assert.Equal(a.Hex, b.Hex);
        Assert.True(ArtifactKey.IsValid(a.Hex));
    }

    [Fact]
    public void Any_changed_setting_name_value_kind_or_source_gives_a_different_key()
    {
        ArtifactKey baseline = Frames().Add("fps", 1.0).Add("frames", 64).Build();
        ArtifactKey[] variants =
        [
            Frames().Add("fps", 2.0).Add("frames", 64).Build(),
            Frames().Add("fps", 1.0).Add("frames", 65).Build(),
            Frames().Add("fps", 1.0).Add("frames", 64).Add("encoder.version", "2").Build(),
            Frames().Add("fps", 1.0).Build(),
            Frames().Add("fpz", 1.0).Add("frames", 64).Build(),
            ArtifactKey.For(Keys.Source, ArtifactKinds.VisualTokens).Add("fps", 1.0).Add("frames", 64).Build(),
            ArtifactKey.For(Keys.Source.Replace('0', '1'), ArtifactKinds.SampledFrames).Add("fps", 1.0).Add("frames", 64).Build(),
        ];
        Assert.All(variants, v => Assert.NotEqual(baseline, v));
        Assert.Equal(variants.Length, variants.Distinct().Count());
    }

    [Fact]
    public void Parts_cannot_be_shifted_between_name_and_value_to_collide()
    {
        ArtifactKey a = Frames().Add("ab", "c").Build();
        ArtifactKey b = Frames().Add("a", "bc").Build();
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Numbers_are_written_invariantly_and_negative_zero_is_zero()
    {
        Assert.Equal(Frames().Add("start", 0.0).Build(), Frames().Add("start", -0.0).Build());
        Assert.Equal("0.1", Frames().Add("x", 0.1).Parts["x"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Frames().Add("x", double.NaN));
    }

    [Fact]
    public void A_part_given_twice_with_different_values_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Frames().Add("fps", 1.0).Add("fps", 2.0));
        Assert.Equal(Frames().Add("fps", 1.0).Build(), Frames().Add("fps", 1.0).Add("fps", 1.0).Build());
    }

    [Theory]
    [InlineData("not-a-hash")]
    [InlineData("../../etc/passwd")]
    public void A_source_hash_that_is_not_a_sha256_is_refused(string source) =>
        Assert.Throws<VideoLongException>(() => ArtifactKey.For(source, "test"));

    [Theory]
    [InlineData("Frames")]
    [InlineData("../x")]
    [InlineData("a/b")]
    public void A_kind_outside_lowercase_letters_digits_and_dashes_is_refused(string kind) =>
        Assert.Throws<ArgumentException>(() => ArtifactKey.For(Keys.Source, kind));
}

public sealed class When_an_artifact_key_is_parsed
{
    [Theory]
    [InlineData("../0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab")]
    [InlineData("/etc/passwd")]
    [InlineData("/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abc")]
    [InlineData("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")]
    [InlineData(" 123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\0f")]
    [InlineData("")]
    public void Anything_but_64_lowercase_hex_digits_is_refused(string text)
    {
        Assert.False(ArtifactKey.TryParse(text, out _));
        Assert.Throws<VideoLongException>(() => ArtifactKey.Parse(text));
    }

    [Fact]
    public void A_key_round_trips_through_its_hex_form()
    {
        ArtifactKey key = Keys.Of("x");
        Assert.Equal(key, ArtifactKey.Parse(key.ToString()));
    }

    [Fact]
    public async Task A_default_key_is_refused_by_the_cache()
    {
        using var folder = new TempFolder();
        ArtifactCache cache = await ArtifactCache.OpenAsync(folder.Path);
        await Assert.ThrowsAsync<ArgumentException>(() => cache.TryGetAsync(default, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => cache.PutAsync(default, "test", new MemoryStream([1]), CancellationToken.None));
    }
}

public sealed class When_a_file_is_hashed
{
    [Fact]
    public async Task The_hash_is_the_sha256_of_the_content_and_progress_reaches_the_length()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "video.bin");
        byte[] bytes = Keys.Bytes("abc", 1000);
        await File.WriteAllBytesAsync(path, bytes);
        var reports = new List<HashProgress>();
        string hash = await ContentHash.OfFileAsync(path, new SyncProgress(reports), CancellationToken.None);
        Assert.Equal(ContentHash.OfBytes(bytes), hash);
        Assert.Equal(new HashProgress(bytes.Length, bytes.Length), reports[^1]);
    }

    [Fact]
    public async Task An_unchanged_file_is_not_read_again_and_a_changed_one_is()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "video.bin");
        await File.WriteAllBytesAsync(path, Keys.Bytes("first"));
        string first = await ContentHash.OfFileAsync(path, CancellationToken.None);
        DateTime written = File.GetLastWriteTimeUtc(path);

        // Same length and last-write time: the remembered hash comes back without reading (the stale value proves it).
        await File.WriteAllBytesAsync(path, Keys.Bytes("FIRST"));
        File.SetLastWriteTimeUtc(path, written);
        Assert.Equal(first, await ContentHash.OfFileAsync(path, CancellationToken.None));

        // A new last-write time (or length) means the file is read again.
        File.SetLastWriteTimeUtc(path, written.AddSeconds(1));
        Assert.Equal(ContentHash.OfBytes(Keys.Bytes("FIRST")), await ContentHash.OfFileAsync(path, CancellationToken.None));
        await File.WriteAllBytesAsync(path, Keys.Bytes("FIRST!"));
        File.SetLastWriteTimeUtc(path, written.AddSeconds(1));
        Assert.Equal(ContentHash.OfBytes(Keys.Bytes("FIRST!")), await ContentHash.OfFileAsync(path, CancellationToken.None));
    }

    private sealed class SyncProgress(List<HashProgress> reports) : IProgress<HashProgress>
    {
        public void Report(HashProgress value) => reports.Add(value);
    }
}
