namespace VideoLong.Pipeline.Bus;

/// <summary>Runtime knobs of the in-process pipeline (bus, job store, artifact cache, models), validated at registration.</summary>
public sealed class PipelineOptions
{
    /// <summary>Holds <c>jobs.db</c> (the SQLite job store) and <c>artifacts/</c> (the artifact cache). Default: <c>~/.videolong</c>.</summary>
    public string DataDirectory { get; set; } = DefaultDataDirectory;

    /// <summary>Folder in which model names of messages are resolved; absolute checkpoint paths are used as they are.</summary>
    public string? ModelDirectory { get; set; }

    /// <summary>Folder with the tokenizer files, when they are not in the checkpoint folder.</summary>
    public string? TokenizerDirectory { get; set; }

    /// <summary>Most bytes of frames and visual tokens kept in the artifact cache (least recently used are evicted).</summary>
    public long CacheSizeBytes { get; set; } = 20L << 30;

    /// <summary>cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>How long the orchestrator waits for one stage.</summary>
    public TimeSpan StageTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Retries of a failed stage (with exponential backoff) before the job faults; input errors are not retried.</summary>
    public int StageRetries { get; set; } = 3;

    /// <summary>Answer text is published as AnswerTokensGenerated at most this often (the first piece at once)…</summary>
    public TimeSpan TokenFlushInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>…or whenever this many tokens are waiting, whichever comes first.</summary>
    public int TokenFlushTokens { get; set; } = 16;

    /// <summary>Least time between two progress reports of one running stage (store and JobProgressed).</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a running stage reads the job's cancellation flag from the store (the fallback to JobCancellationRequested).</summary>
    public TimeSpan CancellationPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Frames sent through the vision tower at once; the encode stage can be cancelled between such chunks.</summary>
    public int VisionBatchSize { get; set; } = 64;

    /// <summary>In-memory (default: this process hosts everything) or a RabbitMQ broker shared by serve and worker processes.</summary>
    public PipelineTransport Transport { get; set; } = PipelineTransport.InMemory;

    /// <summary>The consumers this process hosts on RabbitMQ (see <see cref="PipelineRoles"/>); the in-memory transport hosts all.</summary>
    public PipelineRoles Roles { get; set; } = PipelineRoles.All;

    /// <summary>Whether this process receives job events (progress, answers, faults) for its CLI or HTTP observers; workers need not.</summary>
    public bool ObserveJobEvents { get; set; } = true;

    /// <summary>
    /// How long a begun step is held before another attempt may take it over: the bound on how long a job waits after
    /// its worker was killed mid-step. A running step renews its lease every third of this time.
    /// </summary>
    public TimeSpan StepLease { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Prefix of queue and exchange names on RabbitMQ, so that several deployments (or test runs) can share one broker.</summary>
    public string? EndpointPrefix { get; set; }

    public static string DefaultDataDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".videolong");

    public string JobStorePath => Path.Combine(DataDirectory, "jobs.db");

    public string ArtifactDirectory => Path.Combine(DataDirectory, "artifacts");

    /// <summary>Checks every value; the message names the setting and what is accepted.</summary>
    /// <exception cref="VideoLongException">A setting is invalid.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new VideoLongException("Invalid data folder: give a folder for the job store and the artifact cache (e.g. ~/.videolong).");
        }

        if (ModelDirectory is not null && !Directory.Exists(ModelDirectory))
        {
            throw new VideoLongException($"Invalid model folder '{ModelDirectory}': it does not exist.");
        }

        if (TokenizerDirectory is not null && !Directory.Exists(TokenizerDirectory))
        {
            throw new VideoLongException($"Invalid tokenizer folder '{TokenizerDirectory}': it does not exist.");
        }

        if (CacheSizeBytes < 1 << 20)
        {
            throw new VideoLongException($"Invalid cache size {CacheSizeBytes} bytes: must be at least 1 MiB.");
        }

        if (StageTimeout <= TimeSpan.Zero || StageRetries is < 0 or > 20)
        {
            throw new VideoLongException($"Invalid stage timeout {StageTimeout} or retries {StageRetries}: the timeout must be positive and retries 0 to 20.");
        }

        if (TokenFlushInterval < TimeSpan.Zero || TokenFlushTokens < 1 || ProgressInterval < TimeSpan.Zero)
        {
            throw new VideoLongException($"Invalid token flush interval {TokenFlushInterval}, flush tokens {TokenFlushTokens} or progress interval {ProgressInterval}: intervals must be 0 or more and flush tokens at least 1.");
        }

        if (CancellationPollInterval <= TimeSpan.Zero || VisionBatchSize < 1)
        {
            throw new VideoLongException($"Invalid cancellation poll interval {CancellationPollInterval} or vision batch size {VisionBatchSize}: the interval must be positive and the batch at least 1 frame.");
        }

        if (StepLease < TimeSpan.FromMilliseconds(500) || StepLease > TimeSpan.FromDays(1))
        {
            throw new VideoLongException($"Invalid step lease {StepLease.TotalSeconds} s: must be 0.5 s to 1 day.");
        }

        if (!Transport.IsRabbitMq && Roles != PipelineRoles.All)
        {
            throw new VideoLongException($"Invalid roles '{PipelineRoleSet.Format(Roles)}' on the in-memory transport: it hosts every role in one process; give a rabbitmq://HOST transport to split roles.");
        }

        if (EndpointPrefix is not null && (EndpointPrefix.Length is < 1 or > 40 || !EndpointPrefix.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')))
        {
            throw new VideoLongException($"Invalid queue prefix '{EndpointPrefix}': 1 to 40 characters of a-z, 0-9 and '-'.");
        }
    }
}
