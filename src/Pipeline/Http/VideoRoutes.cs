using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace VideoLong.Pipeline.Http;

/// <summary>Naming the videos questions are asked about: <c>POST /videos</c> (multipart upload) and <c>POST /videos/by-path</c>.</summary>
internal static class VideoRoutes
{
    public static RouteGroupBuilder MapVideoRoutes(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder videos = app.MapGroup("/videos").WithTags("Videos");
        videos.MapPost("/", UploadAsync)
            .WithName("UploadVideo")
            .WithSummary("Upload a video (multipart/form-data, one file part); streamed to disk and checked by content with ffprobe.")
            .Accepts<IFormFile>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        videos.MapPost("/by-path", ByPathAsync)
            .WithName("RegisterVideoByPath")
            .WithSummary("Register a video file under one of the server's allowed roots.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        return videos;
    }

    internal static Task<Results<Created<VideoSummary>, ValidationProblem, ProblemHttpResult>> UploadAsync(
        HttpRequest request, HttpApiOptions options, VideoCatalog catalog, CancellationToken cancellationToken) =>
        SourceUploads.UploadAsync(request, options.MaxUploadBytes, Target(catalog), cancellationToken);

    internal static Task<Results<Created<VideoSummary>, ValidationProblem, ProblemHttpResult>> ByPathAsync(
        VideoPathRequest body, AllowedRoots roots, VideoCatalog catalog, CancellationToken cancellationToken) =>
        SourceUploads.ByPathAsync(body.Path, roots, Target(catalog), cancellationToken);

    private static UploadTarget<VideoSummary> Target(VideoCatalog catalog) =>
        new("video", "a", "/videos", catalog.FolderOf, catalog.RegisterAsync, NotAVideo);

    private static ProblemHttpResult NotAVideo(VideoLongException e) =>
        ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "Not a video.", SourceUploads.Scrub(e.Message));
}

/// <summary>Body of <c>POST /videos/by-path</c>.</summary>
public sealed record VideoPathRequest(string? Path);
