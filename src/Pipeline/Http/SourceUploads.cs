using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace VideoLong.Pipeline.Http;

/// <summary>What an upload or a by-path request registers (a video, an image): its catalog and how refusals read.</summary>
/// <param name="Noun">"video" or "image", for messages.</param>
/// <param name="Article">"a" or "an".</param>
/// <param name="Route">The collection's route, e.g. <c>/videos</c>: the Location is <c>Route/ID</c>.</param>
/// <param name="FolderOf">The folder an id's upload is written into.</param>
/// <param name="RegisterAsync">Checks the file by content and records it (id, path, uploaded); throws <see cref="VideoLongException"/> when it is not one.</param>
/// <param name="Refused">The problem answered for such an exception.</param>
internal sealed record UploadTarget<TSummary>(string Noun, string Article, string Route, Func<string, string> FolderOf,
    Func<string, string, bool, CancellationToken, Task<TSummary>> RegisterAsync, Func<VideoLongException, ProblemHttpResult> Refused);

/// <summary>
/// The two ways a source reaches the server, for videos and images alike: a multipart upload streamed to disk under a
/// size limit (checked by content, never by name; nothing kept when refused) and a path under the allowed roots.
/// </summary>
internal static class SourceUploads
{
    private const int CopyBuffer = 81920;

    public static async Task<Results<Created<TSummary>, ValidationProblem, ProblemHttpResult>> UploadAsync<TSummary>(
        HttpRequest request, long limit, UploadTarget<TSummary> target, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit + (1 << 20))
        {
            return TooLarge(request, limit);
        }

        // The body may carry the form's boundaries and headers on top of the file; the file itself is counted below.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = limit + (1 << 20);
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? type) || !type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(type.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            return ApiProblems.Invalid("file", $"Send multipart/form-data with the {target.Noun} in a part named 'file'.");
        }

        string id = VideoCatalog.NewId();
        string folder = target.FolderOf(id);
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
                return ApiProblems.Invalid("file", written == 0 ? "The uploaded file is empty." : $"No file part: send the {target.Noun} in a multipart part named 'file'.");
            }

            TSummary summary = await target.RegisterAsync(id, source, true, cancellationToken).ConfigureAwait(false);
            keep = true;
            return TypedResults.Created($"{target.Route}/{id}", summary);
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
            return target.Refused(e);
        }
        finally
        {
            if (!keep && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    public static async Task<Results<Created<TSummary>, ValidationProblem, ProblemHttpResult>> ByPathAsync<TSummary>(
        string? path, AllowedRoots roots, UploadTarget<TSummary> target, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(path) || path.Length > 4096)
        {
            return ApiProblems.Invalid("path", $"Give the absolute path of {target.Article} {target.Noun} file under one of the server's allowed roots (at most 4096 characters).");
        }

        string? real = roots.Resolve(path);
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
            return TypedResults.Created($"{target.Route}/{id}", await target.RegisterAsync(id, real, false, cancellationToken).ConfigureAwait(false));
        }
        catch (VideoLongException e)
        {
            return target.Refused(e);
        }
    }

    // Copies at most limit + 1 bytes, so that an oversized part is known without reading it whole.
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

    // The rest of the body is not read: close the connection after the answer, so that no client reuses it mid-body.
    private static ProblemHttpResult TooLarge(HttpRequest request, long limit)
    {
        request.HttpContext.Response.Headers.Connection = "close";
        return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "Upload too large.", $"The server accepts uploads of at most {limit >> 20} MiB.");
    }

    /// <summary>Messages from ffprobe or the image reader name the server's file; callers get them without the server's paths.</summary>
    public static string Scrub(string message) => Cli.VideoLongCli.OneLine(System.Text.RegularExpressions.Regex.Replace(message, "'/[^']*'", "The file"));
}
