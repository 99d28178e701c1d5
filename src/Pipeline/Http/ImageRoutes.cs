using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Http;

/// <summary>Naming the images analyses run on: <c>POST /images</c> (multipart upload) and <c>POST /images/by-path</c>.</summary>
internal static class ImageRoutes
{
    public static RouteGroupBuilder MapImageRoutes(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder images = app.MapGroup("/images").WithTags("Images");
        images.MapPost("/", UploadAsync)
            .WithName("UploadImage")
            .WithSummary("Upload an image (multipart/form-data, one file part); streamed to disk and checked by content: TIFF/BigTIFF/PNG/JPEG signature and a libvips header read.")
            .Accepts<IFormFile>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        images.MapPost("/by-path", ByPathAsync)
            .WithName("RegisterImageByPath")
            .WithSummary("Register an image file under one of the server's allowed roots.")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        return images;
    }

    internal static Task<Results<Created<ImageSummary>, ValidationProblem, ProblemHttpResult>> UploadAsync(
        HttpRequest request, HttpApiOptions options, ImageCatalog catalog, CancellationToken cancellationToken) =>
        SourceUploads.UploadAsync(request, options.MaxUploadBytes, Target(catalog), cancellationToken);

    internal static Task<Results<Created<ImageSummary>, ValidationProblem, ProblemHttpResult>> ByPathAsync(
        VideoPathRequest body, AllowedRoots roots, ImageCatalog catalog, CancellationToken cancellationToken) =>
        SourceUploads.ByPathAsync(body.Path, roots, Target(catalog), cancellationToken);

    private static UploadTarget<ImageSummary> Target(ImageCatalog catalog) =>
        new("image", "an", "/images", catalog.FolderOf, catalog.RegisterAsync, NotAnImage);

    private static ProblemHttpResult NotAnImage(VideoLongException e) => e is ImageTooLargeException
        ? ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "Image too large.", SourceUploads.Scrub(e.Message))
        : ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "Not an image.",
            SourceUploads.Scrub(e.Message) + " Accepted: TIFF, BigTIFF (GeoTIFF), PNG and JPEG, checked by content.");
}
