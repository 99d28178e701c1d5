using TorchSharp;
using VideoLong.Ingest;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Vision.Weights;

namespace VideoLong.Pipeline.Tests.Artifacts;

public sealed class When_sampled_frames_are_stored : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static VideoFrame Frame(int i, int width = 4, int height = 3) => new()
    {
        SampleIndex = i,
        FrameIndex = i * 30,
        RequestedSeconds = i * 1.0,
        PtsSeconds = (i * 1.001) + 0.0005,
        DurationSeconds = 1 / 29.97,
        IsKeyframe = i == 0,
        Approximate = i == 2,
        Width = width,
        Height = height,
        Rgb24 = Enumerable.Range(0, width * height * 3).Select(b => (byte)((b * 7) + i)).ToArray(),
    };

    [Fact]
    public async Task Pixels_timestamps_and_indices_round_trip_through_the_cache()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        VideoFrame[] frames = [Frame(0), Frame(1), Frame(2)];
        ArtifactKey key = ArtifactKey.For(Keys.Source, ArtifactKinds.SampledFrames).Add("fps", 1.0).Build();

        ArtifactInfo info = await SampledFramesArtifact.PutAsync(cache, key, frames, CancellationToken.None);
        IReadOnlyList<VideoFrame>? back = await SampledFramesArtifact.TryGetAsync(cache, key, CancellationToken.None);

        Assert.Equal(ArtifactKinds.SampledFrames, info.Kind);
        Assert.NotNull(back);
        Assert.Equal(frames.Length, back.Count);
        for (int i = 0; i < frames.Length; i++)
        {
            Assert.Equal(frames[i].Rgb24, back[i].Rgb24);
            Assert.Equal(frames[i] with { Rgb24 = back[i].Rgb24 }, back[i]);
        }
    }

    [Fact]
    public async Task The_file_is_safetensors_with_a_u8_frames_tensor_and_f64_timestamps()
    {
        string path = Path.Combine(_folder.Path, "frames.safetensors");
        VideoFrame[] frames = [Frame(0), Frame(1)];
        await using (FileStream stream = File.Create(path))
        {
            await SampledFramesArtifact.WriteAsync(stream, frames, CancellationToken.None);
        }

        using SafetensorsCheckpoint file = SafetensorsCheckpoint.Open(path);
        Assert.Equal("U8", file.Entry(SampledFramesArtifact.FramesTensor).Dtype);
        Assert.Equal([2L, 3, 4, 3], file.Entry(SampledFramesArtifact.FramesTensor).Shape);
        using torch.Tensor pts = file.Load(SampledFramesArtifact.PtsTensor);
        Assert.Equal(frames.Select(f => f.PtsSeconds), pts.data<double>().ToArray());
    }

    [Fact]
    public async Task Frames_of_different_sizes_are_refused()
    {
        using var stream = new MemoryStream();
        await Assert.ThrowsAsync<ArgumentException>(() => SampledFramesArtifact.WriteAsync(stream, [Frame(0), Frame(1, width: 5)], CancellationToken.None));
    }
}

public sealed class When_visual_tokens_are_stored : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static float[] Values(int n, int h) => Enumerable.Range(0, n * h).Select(i => MathF.Sin(i * 0.37f) * 3).ToArray();

    [Fact]
    public async Task Float32_tokens_read_back_exactly_through_the_checkpoint_reader()
    {
        ArtifactCache cache = await ArtifactCache.OpenAsync(_folder.Path);
        float[] values = Values(5, 8);
        ArtifactKey key = ArtifactKey.For(Keys.Source, ArtifactKinds.VisualTokens).Add("encoder", "siglip").Add("encoder.version", "1").Build();
        await VisualTokensArtifact.PutAsync(cache, key, values, 5, 8, TensorDtype.F32, CancellationToken.None);

        using torch.Tensor? tokens = await VisualTokensArtifact.TryLoadAsync(cache, key, null, CancellationToken.None);

        Assert.NotNull(tokens);
        Assert.Equal(torch.ScalarType.Float32, tokens.dtype);
        Assert.Equal([5L, 8], tokens.shape);
        Assert.Equal(values, tokens.data<float>().ToArray());
    }

    [Fact]
    public async Task Bfloat16_tokens_match_torch_rounding()
    {
        float[] values = Values(3, 4);
        string path = Path.Combine(_folder.Path, "tokens.safetensors");
        await using (FileStream stream = File.Create(path))
        {
            await VisualTokensArtifact.WriteAsync(stream, values, 3, 4, TensorDtype.BF16, CancellationToken.None);
        }

        using torch.Tensor loaded = VisualTokensArtifact.Load(path);
        using torch.Tensor expected = torch.tensor(values).reshape(3, 4).to(torch.ScalarType.BFloat16);
        Assert.Equal(torch.ScalarType.BFloat16, loaded.dtype);
        Assert.True(loaded.equal(expected).all().item<bool>());
    }

    [Fact]
    public async Task A_tensor_is_written_from_torch_and_a_wrong_count_is_refused()
    {
        using torch.Tensor source = torch.arange(12, dtype: torch.ScalarType.Float32).reshape(3, 4);
        string path = Path.Combine(_folder.Path, "t.safetensors");
        await using (FileStream stream = File.Create(path))
        {
            await VisualTokensArtifact.WriteAsync(stream, source, TensorDtype.F32, CancellationToken.None);
        }

        using torch.Tensor loaded = VisualTokensArtifact.Load(path);
        Assert.True(loaded.equal(source).all().item<bool>());
        await Assert.ThrowsAsync<ArgumentException>(() => VisualTokensArtifact.WriteAsync(new MemoryStream(), new float[11], 3, 4, TensorDtype.F32, CancellationToken.None));
    }

    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(1.00390625f, (ushort)0x3F80)]        // exactly halfway, even stays
    [InlineData(1.01171875f, (ushort)0x3F82)]        // halfway from odd rounds up to even
    [InlineData(-2.5f, (ushort)0xC020)]
    public void Bfloat16_rounds_to_nearest_even(float value, ushort bits) => Assert.Equal(bits, SafetensorsWriter.ToBFloat16(value));
}
