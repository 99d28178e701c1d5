namespace VideoLong.Pipeline.Http;

/// <summary>Runtime knobs of <c>videolong serve</c>: where it listens, what it may read, who may call it. Validated at start.</summary>
public sealed class HttpApiOptions
{
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>Kestrel URLs, separated by ';' (e.g. <c>http://127.0.0.1:8080</c>; port 0 picks a free one).</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>Job store, artifact cache and uploaded videos (<c>videos/</c>).</summary>
    public string DataDirectory { get; set; } = Bus.PipelineOptions.DefaultDataDirectory;

    /// <summary>The checkpoint folder every question is answered with.</summary>
    public string ModelDirectory { get; set; } = "";

    public string? TokenizerDirectory { get; set; }

    /// <summary>Folders whose files may be named by path (<c>POST /videos/by-path</c>); empty refuses every path.</summary>
    public IReadOnlyList<string> AllowedRoots { get; set; } = [];

    /// <summary>When not empty, every route but the OpenAPI document and <c>/health</c> needs one of these in <see cref="ApiKeyHeader"/>.</summary>
    public IReadOnlyList<string> ApiKeys { get; set; } = [];

    public long MaxUploadBytes { get; set; } = 2L << 30;

    /// <summary>Jobs a caller (an API key, or everyone when no keys are configured) may have queued or running at once.</summary>
    public int MaxConcurrentJobsPerKey { get; set; } = 4;

    /// <summary>In-memory: the pipeline runs in this process. RabbitMQ: <c>videolong worker</c> processes run it; this one only observes job events.</summary>
    public Bus.PipelineTransport Transport { get; set; } = Bus.PipelineTransport.InMemory;

    /// <summary>Prefix of queue and exchange names on RabbitMQ (see <see cref="Bus.PipelineOptions.EndpointPrefix"/>).</summary>
    public string? EndpointPrefix { get; set; }

    public string VideoDirectory => Path.Combine(DataDirectory, "videos");

    /// <summary>Checks every value; the message names the option and what is accepted.</summary>
    /// <exception cref="VideoLongException">A setting is invalid.</exception>
    public void Validate()
    {
        foreach (string url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).DefaultIfEmpty(""))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new VideoLongException($"Invalid --urls '{url}': give http://HOST:PORT (several separated by ';').");
            }
        }

        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new VideoLongException("Invalid --data: give a folder for the job store, the artifact cache and uploads.");
        }

        if (!File.Exists(Path.Combine(ModelDirectory, "config.json")))
        {
            throw new VideoLongException($"Invalid --model '{ModelDirectory}': not a checkpoint folder (no config.json).");
        }

        if (TokenizerDirectory is not null && !Directory.Exists(TokenizerDirectory))
        {
            throw new VideoLongException($"Invalid --tokenizer '{TokenizerDirectory}': the folder does not exist.");
        }

        foreach (string root in AllowedRoots)
        {
            if (!Path.IsPathFullyQualified(root) || !Directory.Exists(root))
            {
                throw new VideoLongException($"Invalid --allowed-root '{root}': it must be an existing folder.");
            }
        }

        foreach (string key in ApiKeys)
        {
            if (key.Length is < 16 or > 256 || key.Any(char.IsWhiteSpace))
            {
                throw new VideoLongException("Invalid --api-key: a key must be 16 to 256 characters without spaces.");
            }
        }

        if (MaxUploadBytes is < 1 << 20 or > 1L << 40)
        {
            throw new VideoLongException($"Invalid --max-upload-mb {MaxUploadBytes >> 20}: must be 1 to 1048576.");
        }

        if (MaxConcurrentJobsPerKey is < 1 or > 1000)
        {
            throw new VideoLongException($"Invalid --max-jobs-per-key {MaxConcurrentJobsPerKey}: must be 1 to 1000.");
        }
    }
}
