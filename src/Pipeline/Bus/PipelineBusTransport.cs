using MassTransit;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Puts the pipeline's bus on its transport. In-memory: every consumer in this process. RabbitMQ: the consumers of
/// <see cref="PipelineOptions.Roles"/> on durable queues shared by every process of those roles (competing consumers;
/// a message is acknowledged after its consumer returned, i.e. after the step's result is in the job store), failures
/// that outlast the retries in the queue's <c>_error</c> queue, and — when <see cref="PipelineOptions.ObserveJobEvents"/> —
/// a temporary, auto-deleted queue of this process for job events, so each serve or ask process sees every event.
/// </summary>
public static class PipelineBusTransport
{
    public static void UsingVideoLongTransport(this IBusRegistrationConfigurator bus, PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Transport.IsRabbitMq)
        {
            bus.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            return;
        }

        PipelineTransport broker = options.Transport;
        string? prefix = options.EndpointPrefix;
        var names = new KebabCaseEndpointNameFormatter(prefix is null ? null : prefix + "-", false);
        Type[] excluded = [.. PipelineRoleSet.NotHosted(options.Roles), typeof(JobEventsConsumer), typeof(JobCancellationConsumer)];
        bus.UsingRabbitMq((context, cfg) =>
        {
            cfg.Host(broker.Host!, (ushort)broker.Port, broker.VirtualHost, $"videolong {PipelineRoleSet.Format(options.Roles)} pid {Environment.ProcessId}", host =>
            {
                host.Username(broker.User);
                host.Password(broker.Password);
            });
            if (prefix is not null)
            {
                // Message-type exchanges too, or two deployments on one broker would receive each other's published messages.
                cfg.MessageTopology.SetEntityNameFormatter(new PrefixEntityNameFormatter(cfg.MessageTopology.EntityNameFormatter, prefix + "."));
            }

            if (options.ObserveJobEvents)
            {
                cfg.ReceiveEndpoint(new TemporaryEndpointDefinition("job-events"), e => e.ConfigureConsumer<JobEventsConsumer>(context));
            }

            // Every process hears every cancellation request on a queue of its own (a named queue from the consumer's
            // definition would be exclusive to the first process that declares it).
            cfg.ReceiveEndpoint(new TemporaryEndpointDefinition("job-cancellation"), e => e.ConfigureConsumer<JobCancellationConsumer>(context));
            cfg.ConfigureEndpoints(context, filter => filter.Exclude(excluded), names);
        });
    }
}
