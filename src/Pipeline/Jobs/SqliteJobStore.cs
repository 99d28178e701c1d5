using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Jobs;

/// <summary>
/// <see cref="IJobStore"/> on one SQLite file (Microsoft.Data.Sqlite): the embedded default of ARCHITECTURE.md
/// "Processes and scale". WAL mode lets readers run beside the one writer; every change is one IMMEDIATE transaction
/// (the write lock is taken up front, so two writers never deadlock upgrading a read lock) and waits up to
/// <see cref="SqliteJobStoreOptions.BusyTimeout"/> for another writer, in this process or another.
/// Each call opens a pooled connection; <see cref="Dispose"/> clears the pool so the file can be reopened or deleted.
/// </summary>
public sealed class SqliteJobStore : IJobStore, IDisposable
{
    /// <summary>The schema this build writes, kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = 1;

    private const string JobColumns =
        "id, kind, state, owner, request_json, result_json, error_stage, error_message, error_type, " +
        "progress_stage, progress_done, progress_total, cancel_requested, created_at, updated_at";

    private readonly string _connectionString;
    private readonly SqliteJobStoreOptions _options;
    private readonly TimeProvider _time;

    private SqliteJobStore(string connectionString, SqliteJobStoreOptions options)
    {
        _connectionString = connectionString;
        _options = options;
        _time = options.TimeProvider;
    }

    /// <summary>The database file.</summary>
    public string Path { get; private init; } = "";

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>, creating or checking its schema.</summary>
    /// <exception cref="VideoLongException">The file holds a newer schema than this build knows.</exception>
    public static async Task<SqliteJobStore> OpenAsync(string path, SqliteJobStoreOptions? options, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new SqliteJobStoreOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BusyTimeout, TimeSpan.Zero, nameof(options.BusyTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.StepLease, TimeSpan.Zero, nameof(options.StepLease));

        string fullPath = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(fullPath)!);
        string connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds),
        }.ToString();

        var store = new SqliteJobStore(connectionString, options) { Path = fullPath };
        await store.CreateSchemaAsync(cancellationToken);
        return store;
    }

    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    public async Task<JobId> CreateAsync(string kind, string requestJson, string? owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(kind.Length, 64, nameof(kind));
        ThrowIfNotJson(requestJson, nameof(requestJson));
        if (owner is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        }

        var jobId = new JobId(Guid.NewGuid());
        long now = Now();
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        await ExecuteAsync(connection, transaction,
            "INSERT INTO jobs (id, kind, state, owner, request_json, created_at, updated_at) " +
            "VALUES ($id, $kind, $state, $owner, $request, $now, $now)", cancellationToken,
            ("$id", Key(jobId)), ("$kind", kind), ("$state", nameof(JobState.Queued)), ("$owner", owner),
            ("$request", requestJson), ("$now", now));
        await ExecuteAsync(connection, transaction,
            "INSERT INTO job_timings (job_id, state, started_at) VALUES ($id, $state, $now)", cancellationToken,
            ("$id", Key(jobId)), ("$state", nameof(JobState.Queued)), ("$now", now));
        await transaction.CommitAsync(cancellationToken);
        return jobId;
    }

    public async Task<JobRecord> GetAsync(JobId jobId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        return await ReadJobAsync(connection, null, jobId, cancellationToken);
    }

    public async Task<IReadOnlyList<JobRecord>> ListAsync(JobListQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Offset, nameof(query.Offset));
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query.Limit));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, JobListQuery.MaxLimit, nameof(query.Limit));

        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText =
            $"SELECT {JobColumns} FROM jobs " +
            "WHERE ($state IS NULL OR state = $state) AND ($owner IS NULL OR owner = $owner) " +
            "ORDER BY created_at DESC, rowid DESC LIMIT $limit OFFSET $offset";
        Bind(command, ("$state", query.State?.ToString()), ("$owner", query.Owner), ("$limit", query.Limit), ("$offset", query.Offset));
        var jobs = new List<JobRecord>();
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(ReadJob(reader));
        }

        return jobs;
    }

    public async Task<bool> TransitionAsync(JobId jobId, JobState to, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(to);
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState from = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        if (from == to && !from.IsTerminal())
        {
            return false;
        }

        await MoveAsync(connection, transaction, jobId, from, to, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<bool> ReportProgressAsync(JobId jobId, JobStage stage, long done, long total, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(stage);
        ArgumentOutOfRangeException.ThrowIfNegative(done);
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(done, total);

        long now = Now();
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState state = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        if (state.IsTerminal())
        {
            return false;
        }

        await ExecuteAsync(connection, transaction,
            "UPDATE jobs SET progress_stage = $stage, progress_done = $done, progress_total = $total, updated_at = $now WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$done", done), ("$total", total), ("$now", now));
        await ExecuteAsync(connection, transaction,
            "UPDATE job_steps SET lease_until = $lease WHERE job_id = $id AND stage = $stage AND status = 'running'",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$lease", now + _options.StepLease.Ticks));
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task StoreResultAsync(JobId jobId, string resultJson, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfNotJson(resultJson, nameof(resultJson));
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState state = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        if (state is JobState.Faulted or JobState.Cancelled)
        {
            throw new JobStateException(jobId, state, $"Job {jobId.Value} is {state}; a result can no longer be stored.");
        }

        await ExecuteAsync(connection, transaction, "UPDATE jobs SET result_json = $result, updated_at = $now WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$result", resultJson), ("$now", Now()));
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task SucceedAsync(JobId jobId, string resultJson, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfNotJson(resultJson, nameof(resultJson));
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState from = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        await MoveAsync(connection, transaction, jobId, from, JobState.Succeeded, cancellationToken);
        await ExecuteAsync(connection, transaction, "UPDATE jobs SET result_json = $result WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$result", resultJson));
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task FaultAsync(JobId jobId, JobError error, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentException.ThrowIfNullOrWhiteSpace(error.Message, nameof(error));
        ArgumentException.ThrowIfNullOrWhiteSpace(error.ExceptionType, nameof(error));
        if (error.Stage is { } stage)
        {
            ThrowIfUndefined(stage);
        }

        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState from = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        await MoveAsync(connection, transaction, jobId, from, JobState.Faulted, cancellationToken);
        await ExecuteAsync(connection, transaction,
            "UPDATE jobs SET error_stage = $stage, error_message = $message, error_type = $type WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$stage", error.Stage?.ToString()), ("$message", error.Message),
            ("$type", error.ExceptionType));
        await transaction.CommitAsync(cancellationToken);
    }

    public Task<IReadOnlyList<StageTiming>> GetTimingsAsync(JobId jobId, CancellationToken cancellationToken) =>
        ReadRowsOfJobAsync(jobId, "SELECT state, started_at, ended_at FROM job_timings WHERE job_id = $id ORDER BY started_at, rowid",
            reader => new StageTiming(
                Enum.Parse<JobState>(reader.GetString(0)),
                FromTicks(reader.GetInt64(1)),
                reader.IsDBNull(2) ? null : FromTicks(reader.GetInt64(2))),
            cancellationToken);

    public async Task<bool> RequestCancellationAsync(JobId jobId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState state = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        if (state.IsTerminal())
        {
            return false;
        }

        await ExecuteAsync(connection, transaction, "UPDATE jobs SET cancel_requested = 1, updated_at = $now WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$now", Now()));
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<bool> IsCancellationRequestedAsync(JobId jobId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT cancel_requested FROM jobs WHERE id = $id";
        Bind(command, ("$id", Key(jobId)));
        object? value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null ? throw new JobNotFoundException(jobId) : Convert.ToInt64(value, CultureInfo.InvariantCulture) != 0;
    }

    public async Task<StepBegin> TryBeginStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(stage);
        ThrowIfEmpty(messageId);

        long now = Now();
        long leaseUntil = now + _options.StepLease.Ticks;
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        JobState state = await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        StepRow? step = await ReadStepAsync(connection, transaction, jobId, stage, cancellationToken);

        if (step is { Completed: true })
        {
            return new StepBegin(StepOutcome.AlreadyCompleted, step.ResultJson, step.Attempts);
        }

        if (state.IsTerminal())
        {
            return new StepBegin(StepOutcome.JobEnded, null, 0);
        }

        if (step is not null && step.LeaseUntil > now)
        {
            return new StepBegin(StepOutcome.InProgress, null, 0);
        }

        int attempt = (step?.Attempts ?? 0) + 1;
        await ExecuteAsync(connection, transaction,
            "INSERT INTO job_steps (job_id, stage, status, message_id, attempts, started_at, lease_until) " +
            "VALUES ($id, $stage, 'running', $message, $attempt, $now, $lease) " +
            "ON CONFLICT (job_id, stage) DO UPDATE SET message_id = $message, attempts = $attempt, started_at = $now, lease_until = $lease",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$message", messageId.ToString("D")),
            ("$attempt", attempt), ("$now", now), ("$lease", leaseUntil));
        await transaction.CommitAsync(cancellationToken);
        return new StepBegin(StepOutcome.Begun, null, attempt);
    }

    public async Task<StepCompletion> CompleteStepAsync(JobId jobId, JobStage stage, Guid messageId, string resultJson, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(stage);
        ThrowIfEmpty(messageId);
        ThrowIfNotJson(resultJson, nameof(resultJson));

        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        StepRow? step = await ReadStepAsync(connection, transaction, jobId, stage, cancellationToken)
            ?? throw new InvalidOperationException(
                $"Step {stage} of job {jobId.Value} was never begun; call TryBeginStepAsync before CompleteStepAsync.");
        if (step.Completed)
        {
            return new StepCompletion(step.ResultJson!, AlreadyCompleted: true);
        }

        // The first completion wins, whichever attempt holds the lease now: both attempts did the same work.
        await ExecuteAsync(connection, transaction,
            "UPDATE job_steps SET status = 'completed', message_id = $message, result_json = $result, completed_at = $now " +
            "WHERE job_id = $id AND stage = $stage",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$message", messageId.ToString("D")),
            ("$result", resultJson), ("$now", Now()));
        await transaction.CommitAsync(cancellationToken);
        return new StepCompletion(resultJson, AlreadyCompleted: false);
    }

    public async Task<bool> AbandonStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(stage);
        ThrowIfEmpty(messageId);

        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        int changed = await ExecuteAsync(connection, transaction,
            "UPDATE job_steps SET lease_until = 0 WHERE job_id = $id AND stage = $stage AND status = 'running' AND message_id = $message",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$message", messageId.ToString("D")));
        await transaction.CommitAsync(cancellationToken);
        return changed > 0;
    }

    public async Task<bool> RenewStepAsync(JobId jobId, JobStage stage, Guid messageId, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        ThrowIfUndefined(stage);
        ThrowIfEmpty(messageId);

        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        await ReadStateAsync(connection, transaction, jobId, cancellationToken);
        int changed = await ExecuteAsync(connection, transaction,
            "UPDATE job_steps SET lease_until = $lease WHERE job_id = $id AND stage = $stage AND status = 'running' AND message_id = $message",
            cancellationToken, ("$id", Key(jobId)), ("$stage", stage.ToString()), ("$message", messageId.ToString("D")),
            ("$lease", Now() + _options.StepLease.Ticks));
        await transaction.CommitAsync(cancellationToken);
        return changed > 0;
    }

    public Task<IReadOnlyList<StepRecord>> GetStepsAsync(JobId jobId, CancellationToken cancellationToken) =>
        ReadRowsOfJobAsync(jobId, "SELECT stage, status, message_id, attempts, started_at, lease_until, completed_at FROM job_steps WHERE job_id = $id ORDER BY started_at, rowid",
            reader => new StepRecord(
                Enum.Parse<JobStage>(reader.GetString(0)),
                reader.GetString(1) == "completed",
                Guid.Parse(reader.GetString(2)),
                reader.GetInt32(3),
                FromTicks(reader.GetInt64(4)),
                FromTicks(reader.GetInt64(5)),
                reader.IsDBNull(6) ? null : FromTicks(reader.GetInt64(6))),
            cancellationToken);

    /// <summary>The rows <paramref name="sql"/> (bound to $id) returns for an existing job (unknown jobs throw), mapped by <paramref name="map"/>.</summary>
    private async Task<IReadOnlyList<T>> ReadRowsOfJobAsync<T>(JobId jobId, string sql, Func<SqliteDataReader, T> map, CancellationToken cancellationToken)
    {
        ThrowIfEmpty(jobId);
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);
        await ReadStateAsync(connection, null, jobId, cancellationToken);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        Bind(command, ("$id", Key(jobId)));
        var rows = new List<T>();
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    // ---- schema ----

    private async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await using SqliteConnection connection = await OpenConnectionAsync(cancellationToken);

        // WAL is a property of the file: set once, it stays. It cannot change inside a transaction.
        await using (SqliteCommand wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode = WAL";
            string? mode = (string?)await wal.ExecuteScalarAsync(cancellationToken);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new VideoLongException($"The job store {Path} could not switch to WAL mode (journal_mode is '{mode}').");
            }
        }

        await using DbTransaction transaction = connection.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE
        long version = await ScalarAsync(connection, transaction, "PRAGMA user_version", cancellationToken);
        if (version > SchemaVersion)
        {
            throw new VideoLongException(
                $"The job store {Path} has schema version {version}, newer than this build's {SchemaVersion}. Hint: run a newer videolong, or point it at another file.");
        }

        if (version < 1)
        {
            await ExecuteAsync(connection, transaction, """
                CREATE TABLE jobs (
                    id               TEXT    NOT NULL PRIMARY KEY,
                    kind             TEXT    NOT NULL,
                    state            TEXT    NOT NULL,
                    owner            TEXT,
                    request_json     TEXT    NOT NULL,
                    result_json      TEXT,
                    error_stage      TEXT,
                    error_message    TEXT,
                    error_type       TEXT,
                    progress_stage   TEXT,
                    progress_done    INTEGER NOT NULL DEFAULT 0,
                    progress_total   INTEGER NOT NULL DEFAULT 0,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    created_at       INTEGER NOT NULL,   -- UTC ticks
                    updated_at       INTEGER NOT NULL
                );
                CREATE INDEX jobs_by_created ON jobs (created_at DESC);
                CREATE INDEX jobs_by_state ON jobs (state, created_at DESC);
                CREATE INDEX jobs_by_owner ON jobs (owner, created_at DESC);

                CREATE TABLE job_timings (
                    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                    state      TEXT    NOT NULL,
                    started_at INTEGER NOT NULL,
                    ended_at   INTEGER,
                    PRIMARY KEY (job_id, state)
                );

                CREATE TABLE job_steps (
                    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                    stage        TEXT    NOT NULL,
                    status       TEXT    NOT NULL CHECK (status IN ('running', 'completed')),
                    message_id   TEXT    NOT NULL,
                    attempts     INTEGER NOT NULL,
                    started_at   INTEGER NOT NULL,
                    lease_until  INTEGER NOT NULL,
                    completed_at INTEGER,
                    result_json  TEXT,
                    PRIMARY KEY (job_id, stage)
                );
                """, cancellationToken);
        }

        // Later versions add their migrations here, each guarded by `version < N`.
        await ExecuteAsync(connection, transaction, $"PRAGMA user_version = {SchemaVersion}", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    // ---- helpers ----

    private async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using SqliteCommand pragmas = connection.CreateCommand();
            pragmas.CommandText =
                $"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds}; PRAGMA foreign_keys = ON;";
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private async Task MoveAsync(SqliteConnection connection, DbTransaction transaction, JobId jobId, JobState from, JobState to, CancellationToken cancellationToken)
    {
        if (!JobTransitions.IsAllowed(from, to))
        {
            throw new InvalidJobTransitionException(jobId, from, to);
        }

        long now = Now();
        await ExecuteAsync(connection, transaction, "UPDATE jobs SET state = $to, updated_at = $now WHERE id = $id",
            cancellationToken, ("$id", Key(jobId)), ("$to", to.ToString()), ("$now", now));
        await ExecuteAsync(connection, transaction,
            "UPDATE job_timings SET ended_at = $now WHERE job_id = $id AND state = $from AND ended_at IS NULL",
            cancellationToken, ("$id", Key(jobId)), ("$from", from.ToString()), ("$now", now));
        if (!to.IsTerminal())
        {
            await ExecuteAsync(connection, transaction,
                "INSERT INTO job_timings (job_id, state, started_at) VALUES ($id, $to, $now) ON CONFLICT DO NOTHING",
                cancellationToken, ("$id", Key(jobId)), ("$to", to.ToString()), ("$now", now));
        }
    }

    private static async Task<JobState> ReadStateAsync(SqliteConnection connection, DbTransaction? transaction, JobId jobId, CancellationToken cancellationToken)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction?)transaction;
        command.CommandText = "SELECT state FROM jobs WHERE id = $id";
        Bind(command, ("$id", Key(jobId)));
        object? value = await command.ExecuteScalarAsync(cancellationToken);
        return value is string state ? Enum.Parse<JobState>(state) : throw new JobNotFoundException(jobId);
    }

    private static async Task<JobRecord> ReadJobAsync(SqliteConnection connection, DbTransaction? transaction, JobId jobId, CancellationToken cancellationToken)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction?)transaction;
        command.CommandText = $"SELECT {JobColumns} FROM jobs WHERE id = $id";
        Bind(command, ("$id", Key(jobId)));
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadJob(reader) : throw new JobNotFoundException(jobId);
    }

    private static JobRecord ReadJob(SqliteDataReader reader)
    {
        string? errorMessage = reader.IsDBNull(7) ? null : reader.GetString(7);
        return new JobRecord
        {
            Id = new JobId(Guid.Parse(reader.GetString(0))),
            Kind = reader.GetString(1),
            State = Enum.Parse<JobState>(reader.GetString(2)),
            Owner = reader.IsDBNull(3) ? null : reader.GetString(3),
            RequestJson = reader.GetString(4),
            ResultJson = reader.IsDBNull(5) ? null : reader.GetString(5),
            Error = errorMessage is null
                ? null
                : new JobError(reader.IsDBNull(6) ? null : Enum.Parse<JobStage>(reader.GetString(6)), errorMessage, reader.GetString(8)),
            Progress = reader.IsDBNull(9)
                ? null
                : new JobProgress(Enum.Parse<JobStage>(reader.GetString(9)), reader.GetInt64(10), reader.GetInt64(11)),
            CancellationRequested = reader.GetInt64(12) != 0,
            CreatedAt = FromTicks(reader.GetInt64(13)),
            UpdatedAt = FromTicks(reader.GetInt64(14)),
        };
    }

    private sealed record StepRow(bool Completed, int Attempts, long LeaseUntil, string? ResultJson);

    private static async Task<StepRow?> ReadStepAsync(SqliteConnection connection, DbTransaction transaction, JobId jobId, JobStage stage, CancellationToken cancellationToken)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction)transaction;
        command.CommandText = "SELECT status, attempts, lease_until, result_json FROM job_steps WHERE job_id = $id AND stage = $stage";
        Bind(command, ("$id", Key(jobId)), ("$stage", stage.ToString()));
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new StepRow(reader.GetString(0) == "completed", reader.GetInt32(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : reader.GetString(3));
    }

    private static async Task<int> ExecuteAsync(SqliteConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction)transaction;
        command.CommandText = sql;
        Bind(command, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.Transaction = (SqliteTransaction)transaction;
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach ((string name, object? value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    private long Now() => _time.GetUtcNow().UtcTicks;

    private static DateTimeOffset FromTicks(long ticks) => new(ticks, TimeSpan.Zero);

    private static string Key(JobId jobId) => jobId.Value.ToString("D");

    private static void ThrowIfEmpty(JobId jobId)
    {
        if (jobId.Value == Guid.Empty)
        {
            throw new ArgumentException("A job id must not be the empty GUID.", nameof(jobId));
        }
    }

    private static void ThrowIfEmpty(Guid messageId)
    {
        if (messageId == Guid.Empty)
        {
            throw new ArgumentException("A message id must not be the empty GUID.", nameof(messageId));
        }
    }

    private static void ThrowIfUndefined<TEnum>(TEnum value) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"Not a defined {typeof(TEnum).Name}: accepted values are {string.Join(", ", Enum.GetNames<TEnum>())}.");
        }
    }

    private static void ThrowIfNotJson(string json, string paramName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(json, paramName);
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{paramName} is not valid JSON: {e.Message}", paramName, e);
        }
    }
}
