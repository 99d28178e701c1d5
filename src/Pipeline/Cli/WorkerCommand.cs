using System.CommandLine;
using System.Globalization;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VideoLong.Pipeline.Bus;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong worker --role ROLES --transport rabbitmq://HOST</c>: hosts the consumers of its roles on RabbitMQ over a
/// shared data folder (job store and artifact cache) until Ctrl+C or SIGTERM. On stop it takes no new messages, lets
/// running ones finish for up to <c>--stop-timeout</c>, then cancels them: their steps are given back in the ledger and
/// their unacknowledged messages return to the queue for another worker. Logs one line per step begun and completed.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(CliContext cli)
    {
        var role = new Option<string>("--role") { Description = $"Which consumers to host: {PipelineRoleSet.Accepted}.", Required = true };
        var transport = new Option<string>("--transport")
        {
            Description = "The broker: rabbitmq://[USER:PASSWORD@]HOST[:PORT][/VHOST] (or VIDEOLONG_RABBITMQ_USER/PASSWORD; default guest/guest).", Required = true,
        };
        var data = new Option<string?>("--data") { Description = "Data folder for the job store and the artifact cache, shared with serve (default ~/.videolong)." };
        var modelDir = new Option<string?>("--model-dir") { Description = "Folder in which model names of messages are resolved (absolute checkpoint paths are used as they are)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the checkpoint folder." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N (run one model worker per GPU).", DefaultValueFactory = _ => "cpu" };
        var prefix = new Option<string?>("--queue-prefix") { Description = "Prefix of queue and exchange names, to share a broker between deployments (same on serve and every worker)." };
        var lease = new Option<double>("--step-lease") { Description = "Seconds a killed worker's step stays held before another worker takes it over.", DefaultValueFactory = _ => 60 };
        var stopTimeout = new Option<double>("--stop-timeout") { Description = "Seconds running messages may take to finish on Ctrl+C/SIGTERM before they are cancelled and requeued.", DefaultValueFactory = _ => 30 };
        var command = new Command("worker", "Host pipeline consumers (prepare, encode, answer, orchestrate) on RabbitMQ.")
        {
            role, transport, data, modelDir, tokenizer, device, prefix, lease, stopTimeout,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            double leaseSeconds = parse.GetValue(lease), stopSeconds = parse.GetValue(stopTimeout);
            if (!double.IsFinite(leaseSeconds) || !double.IsFinite(stopSeconds) || stopSeconds is < 0 or > 3600)
            {
                throw new VideoLongException($"Invalid --step-lease {leaseSeconds} or --stop-timeout {stopSeconds}: seconds, the lease 0.5 to 86400 and the stop timeout 0 to 3600.");
            }

            var options = new PipelineOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? PipelineOptions.DefaultDataDirectory),
                ModelDirectory = parse.GetValue(modelDir) is { } m ? Path.GetFullPath(m) : null,
                TokenizerDirectory = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : null,
                Device = parse.GetRequiredValue(device),
                Transport = PipelineTransport.Parse(parse.GetRequiredValue(transport)),
                Roles = PipelineRoleSet.Parse(parse.GetRequiredValue(role)),
                ObserveJobEvents = false,
                StepLease = TimeSpan.FromSeconds(Math.Clamp(leaseSeconds, 0, 86_400 * 2)),
                EndpointPrefix = parse.GetValue(prefix),
            };
            if (!options.Transport.IsRabbitMq)
            {
                throw new VideoLongException($"Invalid --transport '{parse.GetRequiredValue(transport)}': a worker needs a broker, rabbitmq://HOST[:PORT][/VHOST] (in-memory runs everything inside 'videolong serve' or 'ask').");
            }

            if (options.Device is not ("cpu" or "cuda") && !(options.Device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(options.Device.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw new VideoLongException($"Invalid --device '{options.Device}': cpu, cuda or cuda:N.");
            }

            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true, ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            });
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddFilter("MassTransit", LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Services.AddVideoLongPipeline(options);
            builder.Services.Configure<MassTransitHostOptions>(host =>
            {
                host.WaitUntilStarted = true;
                host.StartTimeout = TimeSpan.FromSeconds(60);
                host.ConsumerStopTimeout = TimeSpan.FromSeconds(stopSeconds);
                host.StopTimeout = TimeSpan.FromSeconds(stopSeconds + 15);
            });
            builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(stopSeconds + 30));

            using IHost app = builder.Build();
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not (OperationCanceledException or VideoLongException))
            {
                throw new VideoLongException($"The worker could not start on {options.Transport}: {e.Message} Hint: is the broker running (bash scripts/rabbitmq.sh start)?");
            }

            await cli.Error.WriteLineAsync(
                $"videolong: worker {PipelineRoleSet.Format(options.Roles)} (pid {Environment.ProcessId}) on {options.Transport}, data {options.DataDirectory}; Ctrl+C stops").ConfigureAwait(false);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            await cli.Error.WriteLineAsync("videolong: worker stopped").ConfigureAwait(false);
            return VideoLongCli.ExitOk;
        });
        return command;
    }
}
