using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using VideoLong.Contracts;
using VideoLong.Ingest;
using VideoLong.Ingest.Images;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Http;

/// <summary>
/// Captions and analyses become jobs: <c>POST /videos/{id}/captions</c> and <c>POST /images/{id}/analyses</c> → 202
/// with <c>Location: /jobs/{id}</c>; the job routes (GET, DELETE, events) serve them like questions. Limits per request:
/// segments, sampled frames and regions.
/// </summary>
internal static class CaptionAnalysisRoutes
{
    public const int MaxSegments = 500;
    public const int MaxRegions = 256;

    public static IEndpointRouteBuilder MapCaptionAndAnalysisRoutes(this IEndpointRouteBuilder app)
    {
        app.MapPost("/videos/{videoId}/captions", CaptionAsync)
            .WithTags("Jobs")
            .WithName("CaptionVideo")
            .WithSummary($"Dense captions of a registered video, one per segment (at most {MaxSegments}); answers 202 Accepted with the job's location.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapPost("/images/{imageId}/analyses", AnalyzeAsync)
            .WithTags("Jobs")
            .WithName("AnalyzeImage")
            .WithSummary($"A question answered, or a caption written, for every region of a registered image (at most {MaxRegions} regions); answers 202 Accepted with the job's location.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        return app;
    }

    internal static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> CaptionAsync(string videoId, CaptionRequest body, HttpContext http,
        VideoCatalog catalog, IJobStore store, IPublishEndpoint bus, HttpApiOptions options, CancellationToken cancellationToken)
    {
        double seconds = body.SegmentSeconds ?? 10;
        if (!(seconds > 0 && seconds <= 3600))
        {
            return ApiProblems.Invalid("segmentSeconds", "segmentSeconds must be more than 0 and at most 3600.");
        }

        if (body.Frames is not null && body.Fps is not null)
        {
            return ApiProblems.Invalid("frames", "Give frames or fps, not both.");
        }

        if (body.Frames is < 1 or > JobRoutes.MaxFrames)
        {
            return ApiProblems.Invalid("frames", $"frames must be 1 to {JobRoutes.MaxFrames}.");
        }

        if (body.Fps is { } f && !(f > 0 && f <= 30))
        {
            return ApiProblems.Invalid("fps", "fps must be more than 0 and at most 30.");
        }

        if (ApiProblems.InvalidMaxNewTokens(body.MaxNewTokens) is { } badTokens)
        {
            return badTokens;
        }

        if (await catalog.SourceOfAsync(videoId, cancellationToken).ConfigureAwait(false) is not { } source)
        {
            return ApiProblems.NotFound($"No video '{videoId}': upload it with POST /videos or name it with POST /videos/by-path.");
        }

        double duration = (await VideoProbe.ProbeAsync(source, null, cancellationToken).ConfigureAwait(false)).DurationSeconds;
        double segments = Math.Ceiling((duration - 1e-3) / seconds);
        if (segments > MaxSegments)
        {
            return ApiProblems.Invalid("segmentSeconds", $"The video ({duration:0.#} s) makes {segments} segments of {seconds} s; at most {MaxSegments} per request: use longer segments.");
        }

        double fps = body.Fps ?? 1.0;
        if (body.Frames is null && duration * fps > JobRoutes.MaxFrames)
        {
            return ApiProblems.Invalid("fps", $"{fps} frames per second over {duration:0.#} s is more than {JobRoutes.MaxFrames} frames; lower fps or give frames.");
        }

        var request = new CaptionVideo
        {
            JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = source, SegmentSeconds = seconds, MaxSegments = MaxSegments, Model = options.ModelDirectory,
            Sampling = body.Frames is { } n
                ? new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = n }
                : new SamplingSettings { Strategy = SamplingStrategy.Fps, Fps = fps },
            Generation = new GenerationSettings { MaxNewTokens = body.MaxNewTokens ?? 64 },
        };
        return await JobAdmission.SubmitAsync(nameof(CaptionVideo), request, id => request with { JobId = id }, http, store, bus, options, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<Results<Accepted<JobView>, ValidationProblem, ProblemHttpResult>> AnalyzeAsync(string imageId, AnalysisRequest body, HttpContext http,
        ImageCatalog catalog, IJobStore store, IPublishEndpoint bus, HttpApiOptions options, CancellationToken cancellationToken)
    {
        bool caption = body.Caption ?? false;
        if (caption == (body.Question is not null))
        {
            return ApiProblems.Invalid("question", "Give a question, or caption: true (exactly one).");
        }

        if (body.Question is { } q && (string.IsNullOrWhiteSpace(q) || q.Length > RegionAnalyzer.MaxQuestionLength))
        {
            return ApiProblems.Invalid("question", $"The question must be 1 to {RegionAnalyzer.MaxQuestionLength} characters.");
        }

        int region = body.RegionSize ?? 512;
        if (region is < 16 or > RegionAnalyzer.MaxRegionSize)
        {
            return ApiProblems.Invalid("regionSize", $"regionSize must be 16 to {RegionAnalyzer.MaxRegionSize} pixels.");
        }

        int chunk = body.ChunkSize ?? region;
        if (chunk < 1 || region % chunk != 0)
        {
            return ApiProblems.Invalid("chunkSize", $"chunkSize must divide regionSize ({region}).");
        }

        RegionOrder? order = body.Order switch { null or "raster" => RegionOrder.Raster, "zigzag" => RegionOrder.ZigZag, _ => null };
        if (order is null)
        {
            return ApiProblems.Invalid("order", "order must be raster or zigzag.");
        }

        RegionEdge? edge = body.Edge switch { null or "pad" => RegionEdge.Pad, "shift" => RegionEdge.Shift, "drop" => RegionEdge.Drop, _ => null };
        if (edge is null)
        {
            return ApiProblems.Invalid("edge", "edge must be pad, shift or drop.");
        }

        int maxRegions = body.MaxRegions ?? 64;
        if (maxRegions is < 1 or > MaxRegions)
        {
            return ApiProblems.Invalid("maxRegions", $"maxRegions must be 1 to {MaxRegions}.");
        }

        if (ApiProblems.InvalidMaxNewTokens(body.MaxNewTokens) is { } badTokens)
        {
            return badTokens;
        }

        if (await catalog.SourceOfAsync(imageId, cancellationToken).ConfigureAwait(false) is not { } source)
        {
            return ApiProblems.NotFound($"No image '{imageId}': upload it with POST /images or name it with POST /images/by-path.");
        }

        var request = new AnalyzeImage
        {
            JobId = default, Timestamp = DateTimeOffset.UtcNow, SourcePath = source, Task = caption ? RegionTask.Caption : RegionTask.Question, Question = body.Question,
            RegionSize = region, ChunkSize = chunk, Order = order.Value, Edge = edge.Value, MaxRegions = maxRegions, Model = options.ModelDirectory,
            Generation = new GenerationSettings { MaxNewTokens = body.MaxNewTokens ?? 64 },
        };
        try
        {
            using LargeImage image = LargeImage.Open(source);
            RegionAnalyzer.Plan(image, request);
        }
        catch (VideoLongException e)
        {
            return ApiProblems.Invalid("maxRegions", Cli.VideoLongCli.OneLine(e.Message));
        }

        return await JobAdmission.SubmitAsync(nameof(AnalyzeImage), request, id => request with { JobId = id }, http, store, bus, options, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Body of <c>POST /videos/{id}/captions</c>.</summary>
/// <param name="SegmentSeconds">Length of each segment, more than 0 and at most 3,600 (default 10); at most 500 segments per video.</param>
/// <param name="Frames">Frames sampled uniformly, 1 to 2,048; or give <paramref name="Fps"/>.</param>
/// <param name="Fps">Frames sampled per second (default 1), at most 2,048 frames over the video.</param>
/// <param name="MaxNewTokens">Most tokens generated per segment, 1 to 1,024 (default 64).</param>
public sealed record CaptionRequest(double? SegmentSeconds = null, int? Frames = null, double? Fps = null, int? MaxNewTokens = null);

/// <summary>Body of <c>POST /images/{id}/analyses</c>.</summary>
/// <param name="Question">Asked of every region (1 to 2,000 characters); or set <paramref name="Caption"/>.</param>
/// <param name="Caption">True to write a caption for every region instead.</param>
/// <param name="RegionSize">Side of a region in pixels, 16 to 8,192 (default 512).</param>
/// <param name="ChunkSize">Side of a chunk; must divide the region size (default: the region size).</param>
/// <param name="Order">raster (default) or zigzag.</param>
/// <param name="Edge">pad (default), shift or drop: regions at the right and bottom edges.</param>
/// <param name="MaxRegions">Refuse grids with more regions, 1 to 256 (default 64).</param>
/// <param name="MaxNewTokens">Most tokens generated per region, 1 to 1,024 (default 64).</param>
public sealed record AnalysisRequest(string? Question = null, bool? Caption = null, int? RegionSize = null, int? ChunkSize = null, string? Order = null,
    string? Edge = null, int? MaxRegions = null, int? MaxNewTokens = null);

/// <summary>A job's stored result, typed by its kind, as the job routes show it.</summary>
internal static class JobResults
{
    public static object? Parse(JobRecord job) => job.ResultJson is not { } json ? null : job.Kind switch
    {
        nameof(AnswerQuestion) => JsonSerializer.Deserialize<VideoAnswer>(json, ApiJson.Options),
        nameof(CaptionVideo) => JsonSerializer.Deserialize<VideoCaptions>(json, ApiJson.Options),
        nameof(AnalyzeImage) => JsonSerializer.Deserialize<ImageAnalysis>(json, ApiJson.Options),
        _ => JsonSerializer.Deserialize<JsonElement>(json, ApiJson.Options),
    };
}
