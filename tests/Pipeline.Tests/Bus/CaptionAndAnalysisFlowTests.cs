using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Contracts;
using VideoLong.Ingest.Tests.Images;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_a_video_is_captioned_through_the_in_process_bus(BusVideos media) : IClassFixture<BusVideos>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static CaptionVideo Captions(JobId jobId, string video, double segmentSeconds) => new()
    {
        JobId = jobId, Timestamp = DateTimeOffset.UtcNow, SourcePath = video, SegmentSeconds = segmentSeconds, Model = BusTestBed.Model,
        Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        Generation = new GenerationSettings { MaxNewTokens = 3 },
    };

    [Fact]
    public async Task The_segments_cover_the_duration_with_their_frames_and_progress_per_segment()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        // Frames at 0.2, 0.7, 1.2 and 1.7 s; segments of 0.25 s: every other one holds a frame.
        CaptionsGenerated generated = Assert.IsType<CaptionsGenerated>(await bed.RunAsync(Captions(job, media.Video, 0.25), job));
        Assert.Equal(8, generated.Segments.Count);
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Succeeded, record.State);
        VideoCaptions captions = JsonSerializer.Deserialize<VideoCaptions>(record.ResultJson!, Json)!;
        Assert.Equal(0, captions.Segments[0].StartSeconds);
        Assert.Equal(captions.DurationSeconds, captions.Segments[^1].EndSeconds);
        Assert.Equal(2.0, captions.DurationSeconds, 2);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(i * 0.25, captions.Segments[i].StartSeconds, 9);
            Assert.Equal(i == 7 ? captions.DurationSeconds : (i + 1) * 0.25, captions.Segments[i].EndSeconds, 9);
            Assert.Equal(i % 2 == 0 ? 1 : 0, captions.Segments[i].FrameCount);
        }

        Assert.All(captions.Segments.Where(s => s.FrameCount == 0), s => Assert.Equal("", s.Text));
        Assert.Equal(new CacheHits(false, false), captions.Cached);
        Assert.Equal(8, bed.Harness.Published.Select<JobProgressed>(x => x.Context.Message.JobId == job && x.Context.Message.Stage == JobStage.Answer).Count());
        Assert.Equal([JobState.Queued, JobState.Preparing, JobState.Encoding, JobState.Answering], (await bed.Store.GetTimingsAsync(job, default)).Select(t => t.State));
    }

    [Fact]
    public async Task A_second_caption_request_and_a_question_on_the_same_settings_hit_the_cache()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId first = await bed.NewJobAsync();
        Assert.IsType<CaptionsGenerated>(await bed.RunAsync(Captions(first, media.Video, 1), first));

        JobId second = await bed.NewJobAsync();
        Assert.IsType<CaptionsGenerated>(await bed.RunAsync(Captions(second, media.Video, 0.5), second));
        VideoCaptions captions = JsonSerializer.Deserialize<VideoCaptions>((await bed.Store.GetAsync(second, default)).ResultJson!, Json)!;
        Assert.Equal(new CacheHits(true, true), captions.Cached);
        Assert.Equal(4, captions.Segments.Count);
        Assert.All(captions.Segments, s => Assert.Equal(1, s.FrameCount));
        Assert.False(await bed.Harness.Published.Any<JobProgressed>(x => x.Context.Message.JobId == second && x.Context.Message.Stage == JobStage.Prepare));

        JobId asked = await bed.NewJobAsync();
        Assert.IsType<AnswerGenerated>(await bed.AskAsync(BusTestBed.Question(asked, media.Video)));
        Assert.Equal(new CacheHits(true, true), JsonSerializer.Deserialize<VideoAnswer>((await bed.Store.GetAsync(asked, default)).ResultJson!, Json)!.Cached);
    }

    [Fact]
    public async Task Too_many_segments_fault_the_job_and_a_cancelled_job_ends_as_Cancelled()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        JobFaulted faulted = Assert.IsType<JobFaulted>(await bed.RunAsync(Captions(job, media.Video, 0.1) with { MaxSegments = 5 }, job));
        Assert.Contains("more than the maximum 5", faulted.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(JobState.Faulted, (await bed.Store.GetAsync(job, default)).State);

        JobId cancelled = await bed.NewJobAsync();
        await bed.Store.RequestCancellationAsync(cancelled, default);
        Assert.IsType<JobCancelled>(await bed.RunAsync(Captions(cancelled, media.Video, 1), cancelled));
        Assert.Equal(JobState.Cancelled, (await bed.Store.GetAsync(cancelled, default)).State);
        Assert.False(await bed.Harness.Published.Any<CaptionsGenerated>(x => x.Context.Message.JobId == cancelled));
    }

    [Fact]
    public async Task With_the_hico_merge_a_segment_takes_the_whole_clips_of_its_frames()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        CaptionVideo command = Captions(job, media.Video, 1) with
        {
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 8 },
            Compression = new CompressionSettings { TokensPerFrame = 4 },
        };
        CaptionsGenerated generated = Assert.IsType<CaptionsGenerated>(await bed.RunAsync(command, job));
        Assert.Equal([4, 4], generated.Segments.Select(s => s.FrameCount));
        VideoCaptions captions = JsonSerializer.Deserialize<VideoCaptions>((await bed.Store.GetAsync(job, default)).ResultJson!, Json)!;
        Assert.Equal((8 * 4) + 1, captions.VisualTokens);
    }

    [Fact]
    public async Task A_cancel_during_captioning_stops_between_segments()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        JobEvents events = bed.Services.GetRequiredService<JobEvents>();
        void CancelAfterFirst(JobProgressed p)
        {
            if (p.JobId == job && p.Stage == JobStage.Answer && p.Done == 1)
            {
                bed.Store.RequestCancellationAsync(job, default).GetAwaiter().GetResult();
            }
        }

        events.Progressed += CancelAfterFirst;
        CaptionVideo command = Captions(job, media.Video, 0.1) with { Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 20 } };
        Assert.IsType<JobCancelled>(await bed.RunAsync(command, job));
        events.Progressed -= CancelAfterFirst;
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.Null(record.ResultJson);
        Assert.True(record.Progress!.Done < record.Progress.Total, $"{record.Progress.Done} of {record.Progress.Total} segments ran");
        Assert.False(await bed.Harness.Published.Any<CaptionsGenerated>(x => x.Context.Message.JobId == job));
    }

    [Fact]
    public async Task A_redelivered_caption_command_after_success_neither_reruns_nor_duplicates_the_result()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        CaptionVideo command = Captions(job, media.Video, 1);
        Assert.IsType<CaptionsGenerated>(await bed.RunAsync(command, job));
        string? result = (await bed.Store.GetAsync(job, default)).ResultJson;
        await bed.Harness.Bus.Publish(command);
        await bed.Harness.InactivityTask;
        Assert.Equal(2, bed.Harness.Consumed.Select<CaptionVideo>(x => x.Context.Message.JobId == job).Count());
        Assert.Single(bed.Harness.Published.Select<CaptionsGenerated>(x => x.Context.Message.JobId == job));
        Assert.Single(bed.Harness.Consumed.Select<GenerateCaptions>(x => x.Context.Message.JobId == job));
        Assert.Equal(result, (await bed.Store.GetAsync(job, default)).ResultJson);
    }

    [Fact]
    public void Segments_are_cut_from_the_duration_with_a_shorter_last_one()
    {
        Assert.Equal([(0, 10), (10, 20), (20, 25.5)], CaptionGenerator.Segments(25.5, 10, 100));
        Assert.Equal([(0, 3.0)], CaptionGenerator.Segments(3, 10, 100));
        Assert.Throws<VideoLongException>(() => CaptionGenerator.Segments(25.5, 0, 100));
        Assert.Throws<VideoLongException>(() => CaptionGenerator.Segments(100, 1, 99));
        Assert.Equal("01:05", CaptionGenerator.Clock(65.9));
        Assert.Equal("1:00:00", CaptionGenerator.Clock(3600));
    }
}

/// <summary>A small GeoTIFF (300×200, UTM zone 11N, 30 m pixels) written by the test.</summary>
public sealed class GeoImages : TempMedia
{
    public static readonly double[] Scale = [30, 30, 0];
    public static readonly double[] TiePoint = [0, 0, 0, 440720, 3751320, 0];

    public GeoImages()
    {
        Directory.CreateDirectory(PathOf("images"));
        GeoTiff = new TestTiff
        {
            Width = 300, Height = 200, TileSize = 64,
            ExtraTags = [new TiffTag(33550, Scale), new TiffTag(33922, TiePoint), new TiffTag(34735, new ushort[] { 1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 26711 })],
        }.WriteTo(PathOf("images/geo.tif"));
        Plain = new TestTiff { Width = 96, Height = 64 }.WriteTo(PathOf("images/plain.tif"));
    }

    public string GeoTiff { get; }

    public string Plain { get; }
}

public sealed class When_a_large_image_is_analysed_through_the_in_process_bus(GeoImages media) : IClassFixture<GeoImages>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static AnalyzeImage Analysis(JobId jobId, string image) => new()
    {
        JobId = jobId, Timestamp = DateTimeOffset.UtcNow, SourcePath = image, Task = RegionTask.Question, Question = "What is in this region?",
        RegionSize = 128, ChunkSize = 64, Order = RegionOrder.ZigZag, Model = BusTestBed.Model, Generation = new GenerationSettings { MaxNewTokens = 2 },
    };

    [Fact]
    public async Task Every_region_gets_a_result_with_its_pixel_box_and_map_bounds_in_zigzag_order()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        ImageAnalyzed analyzed = Assert.IsType<ImageAnalyzed>(await bed.RunAsync(Analysis(job, media.GeoTiff), job));
        Assert.Equal(6, analyzed.Regions.Count);                                        // 3 columns × 2 rows, edges padded
        Assert.Equal([(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)], analyzed.Regions.Select(r => (r.Row, r.Column)));
        Assert.Equal(Enumerable.Range(0, 6), analyzed.Regions.Select(r => r.Index));
        foreach (RegionResult r in analyzed.Regions)
        {
            Assert.Equal(new PixelBox { X = r.Column * 128, Y = r.Row * 128, Width = 128, Height = 128 }, r.Box);
            MapBounds bounds = r.Bounds!;
            Assert.Equal("EPSG:26711", bounds.Crs);
            Assert.Equal(440720 + (r.Column * 128 * 30), bounds.MinX, 6);
            Assert.Equal(440720 + ((r.Column + 1) * 128 * 30), bounds.MaxX, 6);
            Assert.Equal(3751320 - (r.Row * 128 * 30), bounds.MaxY, 6);
            Assert.Equal(3751320 - ((r.Row + 1) * 128 * 30), bounds.MinY, 6);
            Assert.NotNull(r.Text);
        }

        Assert.Equal(new PixelBox { X = 256, Y = 0, Width = 44, Height = 128 }, analyzed.Regions[2].Valid);
        Assert.Equal(new PixelBox { X = 0, Y = 128, Width = 128, Height = 72 }, analyzed.Regions[5].Valid);
        Assert.Null(analyzed.Regions[1].Valid);

        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Succeeded, record.State);
        ImageAnalysis stored = JsonSerializer.Deserialize<ImageAnalysis>(record.ResultJson!, Json)!;
        Assert.Equal((300, 200, 2, 3, "EPSG:26711"), (stored.Width, stored.Height, stored.Rows, stored.Columns, stored.Crs));
        Assert.Equal(analyzed.Regions, stored.Regions);
        Assert.Equal(6, bed.Harness.Published.Select<JobProgressed>(x => x.Context.Message.JobId == job && x.Context.Message.Stage == JobStage.Answer).Count());
    }

    [Fact]
    public async Task Captions_of_a_plain_image_have_no_map_bounds_and_shifted_edges_stay_inside()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        AnalyzeImage command = Analysis(job, media.Plain) with { Task = RegionTask.Caption, Question = null, RegionSize = 64, ChunkSize = 32, Edge = RegionEdge.Shift, Order = RegionOrder.Raster };
        ImageAnalyzed analyzed = Assert.IsType<ImageAnalyzed>(await bed.RunAsync(command, job));
        Assert.Equal([new PixelBox { X = 0, Y = 0, Width = 64, Height = 64 }, new PixelBox { X = 32, Y = 0, Width = 64, Height = 64 }], analyzed.Regions.Select(r => r.Box));
        Assert.All(analyzed.Regions, r => Assert.Null(r.Bounds));
    }

    [Fact]
    public async Task A_cancel_during_the_analysis_stops_between_regions()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        JobEvents events = bed.Services.GetRequiredService<JobEvents>();
        void CancelAfterFirst(JobProgressed p)
        {
            if (p.JobId == job && p.Done == 1)
            {
                bed.Store.RequestCancellationAsync(job, default).GetAwaiter().GetResult();
            }
        }

        events.Progressed += CancelAfterFirst;
        Assert.IsType<JobCancelled>(await bed.RunAsync(Analysis(job, media.GeoTiff) with { RegionSize = 32, ChunkSize = 32, MaxRegions = 100 }, job));   // 70 regions
        events.Progressed -= CancelAfterFirst;
        JobRecord record = await bed.Store.GetAsync(job, default);
        Assert.Equal(JobState.Cancelled, record.State);
        Assert.True(record.Progress!.Done < record.Progress.Total, $"{record.Progress.Done} of {record.Progress.Total} regions ran");
        Assert.False(await bed.Harness.Published.Any<ImageAnalyzed>(x => x.Context.Message.JobId == job));
    }

    [Fact]
    public async Task A_redelivered_analysis_after_success_neither_reruns_nor_duplicates_the_result()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        AnalyzeImage command = Analysis(job, media.GeoTiff) with { RegionSize = 128, ChunkSize = 128 };
        Assert.IsType<ImageAnalyzed>(await bed.RunAsync(command, job));
        string? result = (await bed.Store.GetAsync(job, default)).ResultJson;
        await bed.Harness.Bus.Publish(command);
        await bed.Harness.InactivityTask;
        Assert.Equal(2, bed.Harness.Consumed.Select<AnalyzeImage>(x => x.Context.Message.JobId == job).Count());
        Assert.Single(bed.Harness.Published.Select<ImageAnalyzed>(x => x.Context.Message.JobId == job));
        Assert.Equal(result, (await bed.Store.GetAsync(job, default)).ResultJson);
    }

    [Theory]
    [InlineData(128, 48, 64, "question", "must divide the region size 128")]
    [InlineData(32, 32, 64, "question", "more than the maximum 64")]
    [InlineData(128, 64, 64, null, "needs a question")]
    [InlineData(128, 64, 2, "question", "more than the maximum 2")]
    public async Task Bad_requests_fault_the_job_before_any_region_is_read(int region, int chunk, int maxRegions, string? question, string message)
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        AnalyzeImage command = Analysis(job, media.GeoTiff) with { RegionSize = region, ChunkSize = chunk, MaxRegions = maxRegions, Question = question };
        JobFaulted faulted = Assert.IsType<JobFaulted>(await bed.RunAsync(command, job));
        Assert.Contains(message, faulted.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(JobStage.Prepare, faulted.Stage);
        Assert.Equal(JobState.Faulted, (await bed.Store.GetAsync(job, default)).State);
        Assert.False(await bed.Harness.Published.Any<JobProgressed>(x => x.Context.Message.JobId == job));
    }
}
