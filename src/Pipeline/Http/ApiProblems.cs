using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace VideoLong.Pipeline.Http;

/// <summary>The API's errors as ProblemDetails (RFC 9457): one status, a short title, and a detail that says what to change.</summary>
internal static class ApiProblems
{
    public static ProblemHttpResult Problem(int status, string title, string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, extensions: extensions);

    /// <summary>400 naming the field that is wrong.</summary>
    public static ValidationProblem Invalid(string field, string detail) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [detail] }, detail: detail, title: $"Invalid '{field}'.");

    /// <summary>Generation requests (questions, captions, analyses) take at most this many new tokens.</summary>
    public const int MaxNewTokensLimit = 1024;

    /// <summary>400 for a maxNewTokens outside 1 … <see cref="MaxNewTokensLimit"/>; null when it is valid or not given (the default).</summary>
    public static ValidationProblem? InvalidMaxNewTokens(int? maxNewTokens) =>
        maxNewTokens is < 1 or > MaxNewTokensLimit ? Invalid("maxNewTokens", $"maxNewTokens must be 1 to {MaxNewTokensLimit}.") : null;

    public static ProblemHttpResult NotFound(string what) => Problem(StatusCodes.Status404NotFound, "Not found.", what);
}
