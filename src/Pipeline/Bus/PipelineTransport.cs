using System.Globalization;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Where the bus runs: MassTransit's in-memory transport (one process hosts everything, the default) or a RabbitMQ
/// broker (<c>rabbitmq://HOST[:PORT][/VHOST]</c>), across which <c>videolong serve</c> and <c>videolong worker</c>
/// processes share the work.
/// </summary>
public sealed record PipelineTransport
{
    public const string UserVariable = "VIDEOLONG_RABBITMQ_USER";
    public const string PasswordVariable = "VIDEOLONG_RABBITMQ_PASSWORD";

    private const string Accepted = "accepted: 'in-memory', or rabbitmq://HOST[:PORT][/VHOST] (user and password in the URI as rabbitmq://USER:PASSWORD@HOST, or in "
        + UserVariable + "/" + PasswordVariable + "; default guest/guest)";

    private PipelineTransport()
    {
    }

    /// <summary>The embedded default.</summary>
    public static PipelineTransport InMemory { get; } = new();

    public bool IsRabbitMq => Host is not null;

    public string? Host { get; private init; }

    public int Port { get; private init; } = 5672;

    public string VirtualHost { get; private init; } = "/";

    public string User { get; private init; } = "guest";

    public string Password { get; private init; } = "guest";

    /// <summary>The broker's address without credentials (for messages and logs).</summary>
    public override string ToString() => IsRabbitMq
        ? string.Create(CultureInfo.InvariantCulture, $"rabbitmq://{Host}:{Port}/{(VirtualHost == "/" ? "" : Uri.EscapeDataString(VirtualHost))}")
        : "in-memory";

    /// <summary>
    /// Reads <c>in-memory</c> (also <c>memory</c>, <c>loopback</c>; null or empty is the same) or
    /// <c>rabbitmq://[USER[:PASSWORD]@]HOST[:PORT][/VHOST]</c>. Credentials missing from the URI come from
    /// <see cref="UserVariable"/> and <see cref="PasswordVariable"/>, else guest/guest.
    /// </summary>
    /// <exception cref="VideoLongException">Anything else; the message says what is accepted.</exception>
    public static PipelineTransport Parse(string? value, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string text = value?.Trim() ?? "";
        if (text.Length == 0 || text is "in-memory" or "inmemory" or "memory" or "loopback")
        {
            return InMemory;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || !uri.Scheme.Equals("rabbitmq", StringComparison.OrdinalIgnoreCase))
        {
            throw new VideoLongException($"Invalid transport '{Redact(text)}': {Accepted}.");
        }

        if (string.IsNullOrEmpty(uri.Host) || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new VideoLongException($"Invalid transport '{Redact(text)}': it needs a host and takes no query or fragment; {Accepted}.");
        }

        string escapedPath = uri.AbsolutePath.Trim('/');
        string path = Uri.UnescapeDataString(escapedPath);
        if (escapedPath.Contains('/', StringComparison.Ordinal))
        {
            throw new VideoLongException($"Invalid transport '{Redact(text)}': the virtual host is one path segment (use %2F for a '/' inside it); {Accepted}.");
        }

        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            user = Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : null;
        }

        user ??= environment(UserVariable);
        password ??= environment(PasswordVariable);
        if (user is { Length: 0 })
        {
            throw new VideoLongException($"Invalid transport '{Redact(text)}': the user name is empty; {Accepted}.");
        }

        return new PipelineTransport
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5672 : uri.Port,
            VirtualHost = path.Length == 0 ? "/" : path,
            User = user ?? "guest",
            Password = password ?? "guest",
        };
    }

    // Never echo a password back.
    private static string Redact(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) && uri.UserInfo.Contains(':', StringComparison.Ordinal)
            ? text.Replace(uri.UserInfo, uri.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
            : text;
}
