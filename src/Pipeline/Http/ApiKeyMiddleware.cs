using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace VideoLong.Pipeline.Http;

/// <summary>
/// When API keys are configured, every request but the OpenAPI document and <c>/health</c> must carry one of them in
/// <c>X-Api-Key</c> (401 ProblemDetails otherwise). The caller is then known by the key's id (a hash prefix, never the
/// key), which owns its jobs.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, HttpApiOptions options)
{
    private const string CallerItem = "videolong.caller";

    private readonly (byte[] Hash, string Id)[] _keys = options.ApiKeys.Select(k => (Hash(k), KeyId(k))).ToArray();

    /// <summary>The id jobs are owned by: <c>key-</c> and 12 hex digits of the key's SHA-256; null without keys.</summary>
    public static string? CallerOf(HttpContext context) => context.Items.TryGetValue(CallerItem, out object? id) ? id as string : null;

    public static string KeyId(string key) => "key-" + Convert.ToHexStringLower(Hash(key))[..12];

    public async Task InvokeAsync(HttpContext context)
    {
        PathString path = context.Request.Path;
        if (_keys.Length == 0 || path.Equals("/health", StringComparison.Ordinal) || path.Equals("/openapi/v1.json", StringComparison.Ordinal))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        string? presented = context.Request.Headers[HttpApiOptions.ApiKeyHeader].FirstOrDefault();
        string? id = null;
        if (!string.IsNullOrEmpty(presented))
        {
            byte[] hash = Hash(presented);
            foreach ((byte[] keyHash, string keyId) in _keys)
            {
                if (CryptographicOperations.FixedTimeEquals(hash, keyHash))
                {
                    id = keyId;
                }
            }
        }

        if (id is null)
        {
            context.Response.Headers.WWWAuthenticate = "ApiKey header=\"X-Api-Key\"";
            await ApiProblems.Problem(StatusCodes.Status401Unauthorized, "API key required.",
                string.IsNullOrEmpty(presented) ? "Send an API key in the X-Api-Key header." : "The API key in X-Api-Key is not valid.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        context.Items[CallerItem] = id;
        await next(context).ConfigureAwait(false);
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
