using System.Text.Json;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Niah;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Tests.Niah;

public sealed class When_a_niah_grid_runs : IDisposable
{
    private readonly NiahTestBed _bed = new();

    private NiahConfig Config(string haystackFolder, string extra = "") => NiahConfig.Parse($$"""
        {
          "name": "test",
          "seed": 7,
          "haystack": { "frames": "{{haystackFolder}}" },
          "frameCounts": [8, 12],
          "depths": [0, 0.5, 1],
          "needles": [
            { "name": "word", "text": "The word is KIWI", "question": "Which word is written?", "answer": "kiwi" },
            { "name": "choice", "text": "B", "question": "Which letter?", "options": ["x", "y"], "answer": "B" }
          ],
          "maxNewTokens": 3
          {{extra}}
        }
        """, _bed.Root);

    [Fact]
    public async Task The_haystack_is_encoded_exactly_once_per_configuration_and_then_read_from_the_cache()
    {
        string frames = _bed.FramesFolder(12);
        ArtifactCache cache = await ArtifactCache.OpenAsync(Path.Combine(_bed.Root, "cache"));
        var counting = new CountingNiahModel(await _bed.NiahModelAsync());
        NiahConfig config = Config(frames);

        NiahRunResult first = await new NiahRunner(counting, cache).RunAsync(config, quick: false, null, CancellationToken.None);

        // 2 lengths × 3 depths × 2 needles = 12 trials, but the encoder saw the 12 haystack frames once and each needle once.
        Assert.Equal(12, first.Trials.Count);
        Assert.Equal([12, 1, 1], counting.EncodeCalls);
        Assert.False(first.Encoding.HaystackFromCache);
        Assert.Equal(12, first.Encoding.HaystackFrames);
        Assert.Equal(12, counting.Answers);

        counting.EncodeCalls.Clear();
        NiahRunResult second = await new NiahRunner(counting, cache).RunAsync(config, quick: false, null, CancellationToken.None);
        Assert.Equal([1, 1], counting.EncodeCalls);   // needles only: the haystack came from the artifact cache
        Assert.True(second.Encoding.HaystackFromCache);
        Assert.Equal(Outcomes(first), Outcomes(second));

        // Another compression is another configuration: encoded again, once.
        var merged = new CountingNiahModel(await _bed.NiahModelAsync(new Contracts.CompressionSettings { TokensPerFrame = 2 }));
        NiahRunResult hico = await new NiahRunner(merged, cache).RunAsync(config with { Compression = new Contracts.CompressionSettings { TokensPerFrame = 2 } },
            quick: false, null, CancellationToken.None);
        Assert.False(hico.Encoding.HaystackFromCache);
        Assert.Equal([12, 4, 4], merged.EncodeCalls);   // HiCo: clips of 4; a needle image fills one clip
    }

    [Fact]
    public async Task A_run_is_reproducible_from_its_seed()
    {
        string frames = _bed.FramesFolder(12);
        NiahConfig config = Config(frames);
        INiahModel model = await _bed.NiahModelAsync();
        NiahRunResult a = await new NiahRunner(model, null).RunAsync(config, quick: false, null, CancellationToken.None);
        NiahRunResult b = await new NiahRunner(model, null).RunAsync(config, quick: false, null, CancellationToken.None);
        Assert.Equal(Outcomes(a), Outcomes(b));
        Assert.Equal(a.Overall, b.Overall);
        Assert.Equal(7, a.Seed);
        Assert.All(a.Trials, t => Assert.NotNull(t.TeacherForcedCorrect));
        Assert.All(a.Trials, t => Assert.Equal(t.Frames + 1, (t.VisualTokens - 1) / a.Model.TokensPerFrame));   // F + 1 frames + newline
        Assert.Equal(12, a.Haystack!.SampledTimestamps.Count);
        Assert.Contains("libvips", a.Haystack.Decoder, StringComparison.Ordinal);
    }

    [Fact]
    public async Task V2pe_positions_and_video_level_dropping_run_and_are_recorded()
    {
        string frames = _bed.FramesFolder(12);
        var compression = new Contracts.CompressionSettings { TokensPerFrame = 2, V2peStride = 64, DropLayers = [1], DropRatios = [1, 0.5], DropMode = Contracts.TokenDropMode.Uniform };
        INiahModel model = await _bed.NiahModelAsync(compression);
        NiahRunResult result = await new NiahRunner(model, null).RunAsync(Config(frames) with { Compression = compression }, quick: false, null, CancellationToken.None);
        Assert.Equal(12, result.Trials.Count);
        Assert.All(result.Trials, t => Assert.NotNull(t.TeacherForced));
        Assert.Equal(64, result.Model.V2peStride);
        Assert.Equal([1], result.Model.DropLayers);
        Assert.Equal("uniform", result.Model.DropMode);
        Assert.Contains(",1,1 0.5,uniform,64,", NiahReport.Csv(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Finished_lengths_are_handed_out_while_the_run_goes_on()
    {
        string frames = _bed.FramesFolder(12);
        var partials = new List<NiahRunResult>();
        var runner = new NiahRunner(await _bed.NiahModelAsync(), null)
        {
            Checkpoint = (partial, _) =>
            {
                partials.Add(partial);
                return Task.CompletedTask;
            },
        };
        NiahRunResult result = await runner.RunAsync(Config(frames), quick: false, null, CancellationToken.None);
        NiahRunResult partial = Assert.Single(partials);            // after 8 frames; the last length ends the run
        Assert.False(partial.Complete);
        Assert.Equal(6, partial.Trials.Count);
        Assert.All(partial.Trials, t => Assert.Equal(8, t.Frames));
        Assert.True(result.Complete);
        Assert.Contains("PARTIAL", NiahReport.Summary(partial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Multihop_orders_follow_the_seed_and_both_questions_are_reported()
    {
        string frames = _bed.FramesFolder(12);
        string json = $$"""
            {
              "kind": "multihop", "seed": SEED, "haystack": { "frames": "{{frames}}" }, "frameCounts": [12], "maxNewTokens": 2,
              "multihop": [ {
                "chain": [ { "name": "c1", "text": "Find a red kite" }, { "name": "c2", "text": "RED KITE. Find a blue cup" }, { "name": "c3", "text": "BLUE CUP on a table" } ],
                "distractors": [ { "name": "d1", "text": "Find a green hat" }, { "name": "d2", "text": "Find a pink car" } ],
                "caption": { "question": "Caption of the final frame?", "options": ["A blue cup on a table", "A green hat"], "answer": "A" },
                "qa": { "question": "Colour of the cup?", "options": ["Red", "Blue"], "answer": "B" }
              } ]
            }
            """;
        INiahModel model = await _bed.NiahModelAsync();
        async Task<NiahRunResult> Run(long seed) => await new NiahRunner(model, null).RunAsync(
            NiahConfig.Parse(json.Replace("SEED", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), _bed.Root), false, null, CancellationToken.None);

        NiahRunResult a = await Run(1), again = await Run(1);
        Assert.Equal(a.Trials[0].Order, again.Trials[0].Order);
        Assert.Equal(["caption", "qa"], a.Trials.Select(t => t.Part));
        Assert.Equal(["c1", "c2", "c3", "d1", "d2"], a.Trials[0].Order!.Order());
        var orders = new HashSet<string>();
        for (long seed = 1; seed <= 6; seed++)
        {
            orders.Add(string.Join(',', (await Run(seed)).Trials[0].Order!));
        }

        Assert.True(orders.Count > 1, "different seeds should shuffle the needles differently");
        NiahMultihopSummary summary = Assert.Single(a.Multihop);
        Assert.Equal(1.0, summary.Both + summary.OnlyCaption + summary.OnlyQa + summary.Neither, 9);
        Assert.Equal(12 + 5, (a.Trials[0].VisualTokens - 1) / a.Model.TokensPerFrame);   // F + 5 needle frames (and the newline)
    }

    [Fact]
    public void Needles_are_spliced_before_frame_floor_d_times_F_and_long_haystacks_tile()
    {
        // Haystack blocks hold their frame number; the needle holds −1; hidden size 1, 2 tokens per frame.
        using var haystack = new NiahVisualTokens(arange(5, ScalarType.Float32).reshape(5, 1, 1).expand(5, 2, 1).contiguous(), full(1, 1, 99f));
        using var needle = new NiahVisualTokens(full(1, 2, 1, -1f), zeros(0, 1));
        float[] Sequence(int frames, int at)
        {
            using Tensor s = NiahRunner.Assemble(haystack, frames, [(at, needle)]);
            return s.reshape(-1).data<float>().ToArray();
        }

        Assert.Equal([-1, -1, 0, 0, 1, 1, 2, 2, 99], Sequence(3, NiahGridMath.InsertionIndex(0, 3)));
        Assert.Equal([0, 0, -1, -1, 1, 1, 2, 2, 99], Sequence(3, NiahGridMath.InsertionIndex(0.5, 3)));
        Assert.Equal([0, 0, 1, 1, 2, 2, -1, -1, 99], Sequence(3, NiahGridMath.InsertionIndex(1, 3)));
        // 7 frames from 5 encoded: frames 5 and 6 repeat frames 0 and 1.
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3, -1, -1, 4, 4, 0, 0, 1, 1, 99], Sequence(7, 4));
    }

    [Fact]
    public async Task A_haystack_shorter_than_the_clip_is_refused_with_a_clear_error()
    {
        string frames = _bed.FramesFolder(2);
        var model = await _bed.NiahModelAsync(new Contracts.CompressionSettings { TokensPerFrame = 2 });
        NiahConfig config = Config(frames) with { FrameCounts = [4], Compression = new Contracts.CompressionSettings { TokensPerFrame = 2 } };
        var error = await Assert.ThrowsAsync<VideoLongException>(() => new NiahRunner(model, null).RunAsync(config, false, null, CancellationToken.None));
        Assert.Contains("has 2 frames", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gigapixel_needle_is_read_through_the_region_grid_and_only_its_clip_is_encoded_again()
    {
        NiahConfig config = NiahConfig.Parse("""
            {
              "kind": "image", "seed": 3, "maxNewTokens": 2,
              "image": { "sizes": [256, 320], "positions": [[0.1, 0.1], [0.9, 0.9]], "regionSize": 64, "needleSize": 40 },
              "needles": [ { "text": "KIWI", "question": "Which word?", "answer": "kiwi" } ]
            }
            """, _bed.Root);
        var counting = new CountingNiahModel(await _bed.NiahModelAsync());
        NiahRunResult result = await new NiahRunner(counting, null).RunAsync(config, false, null, CancellationToken.None);
        Assert.Equal(4, result.Trials.Count);
        Assert.Equal(16 + 25, result.Encoding.HaystackFrames);          // 4×4 and 5×5 regions, each once
        Assert.Equal(16, counting.EncodeCalls[0]);
        Assert.All(result.Trials, t => Assert.Contains("regions", t.Part!, StringComparison.Ordinal));
        Assert.Equal(0, result.Trials[0].InsertedBefore);                // top-left needle in region 0
        Assert.Equal(15, result.Trials[1].InsertedBefore);               // bottom-right in region 15 of 16
        Assert.Equal([256, 320], result.FrameCounts);
    }

    private static string Outcomes(NiahRunResult result) =>
        JsonSerializer.Serialize(result.Trials.Select(t => new { t.Frames, t.Depth, t.Needle, t.InsertedBefore, t.VisualTokens, t.Generated, t.TeacherForced, t.Score }));

    public void Dispose() => _bed.Dispose();
}
