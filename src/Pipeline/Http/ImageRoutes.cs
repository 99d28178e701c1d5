using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Http;

/// <summary>Naming the images analyses run on: <c>POST /images</c> (multipart upload) and <c>POST /images/by-path</c>.</summary>
internal static class ImageRoutes
{
    private const int CopyBuffer = 81920;

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

    internal static async Task<Results<Created<ImageSummary>, ValidationProblem, ProblemHttpResult>> UploadAsync(
        HttpRequest request, HttpApiOptions options, ImageCatalog catalog, CancellationToken cancellationToken)
    {
        long limit = options.MaxUploadBytes;
        if (request.ContentLength > limit + (1 << 20))
        {
            return TooLarge(request, limit);
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = limit + (1 << 20);
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? type) || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(type.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            return ApiProblems.Invalid("file", "Send multipart/form-data with the image in a part named 'file'.");
        }

        string id = VideoCatalog.NewId();
        string folder = catalog.FolderOf(id);
        string source = Path.Combine(folder, "source");
        bool keep = false;
        try
        {
            var reader = new MultipartReader(boundary, request.Body);
            long written = -1;
            for (MultipartSection? section = await reader.ReadNextSectionAsync(cancellationToken).ConfigureAwait(false);
                 section is not null && written < 0;
                 section = await reader.ReadNextSectionAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out ContentDispositionHeaderValue? disposition) || !disposition.IsFileDisposition())
                {
                    continue;
                }

                Directory.CreateDirectory(folder);
                written = await CopyLimitedAsync(section.Body, source, limit, cancellationToken).ConfigureAwait(false);
                if (written > limit)
                {
                    return TooLarge(request, limit);
                }
            }

            if (written <= 0)
            {
                return ApiProblems.Invalid("file", written == 0 ? "The uploaded file is empty." : "No file part: send the image in a multipart part named 'file'.");
            }

            ImageSummary summary = await catalog.RegisterAsync(id, source, uploaded: true, cancellationToken).ConfigureAwait(false);
            keep = true;
            return TypedResults.Created($"/images/{id}", summary);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(request, limit);
        }
        catch (InvalidDataException e)
        {
            return ApiProblems.Invalid("file", $"The multipart body is malformed: {e.Message}");
        }
        catch (VideoLongException e)
        {
            return NotAnImage(e);
        }
        finally
        {
            if (!keep && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    internal static async Task<Results<Created<ImageSummary>, ValidationProblem, ProblemHttpResult>> ByPathAsync(
        VideoPathRequest body, AllowedRoots roots, ImageCatalog catalog, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Path) || body.Path.Length > 4096)
        {
            return ApiProblems.Invalid("path", "Give the absolute path of an image file under one of the server's allowed roots (at most 4096 characters).");
        }

        string? real = roots.Resolve(body.Path);
        if (real is null)
        {
            return ApiProblems.Problem(StatusCodes.Status403Forbidden, "Path not allowed.",
                "The path is not under an allowed root (relative paths, '..' segments and links that leave the roots are refused).");
        }

        if (!File.Exists(real))
        {
            return ApiProblems.NotFound("No file at that path.");
        }

        string id = VideoCatalog.NewId();
        try
        {
            return TypedResults.Created($"/images/{id}", await catalog.RegisterAsync(id, real, uploaded: false, cancellationToken).ConfigureAwait(false));
        }
        catch (VideoLongException e)
        {
            return NotAnImage(e);
        }
    }

    private static async Task<long> CopyLimitedAsync(Stream from, string path, long limit, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[CopyBuffer];
        long total = 0;
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, CopyBuffer, FileOptions.Asynchronous);
        int read;
        while ((read = await from.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
            if (total > limit)
            {
                return total;
            }

            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }

        return total;
    }

    private static ProblemHttpResult TooLarge(HttpRequest request, long limit)
    {
        request.HttpContext.Response.Headers.Connection = "close";
        return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "Upload too large.", $"The server accepts uploads of at most {limit >> 20} MiB.");
    }

    private static ProblemHttpResult NotAnImage(VideoLongException e) => e is ImageTooLargeException
        ? ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "Image too large.", Scrub(e.Message))
        : ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "Not an image.",
            Scrub(e.Message) + " Accepted: TIFF, BigTIFF (GeoTIFF), PNG and JPEG, checked by content.");

    // Messages from the image reader name the server's file; callers get them without the server's paths.
    private static string Scrub(string message) => Cli.VideoLongCli.OneLine(System.Text.RegularExpressions.Regex.Replace(message, "'/[^']*'", "The file"));
}
