using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Pipeline.Artifacts;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>Registers the video pipeline: job store, artifact cache, model registry, stage services, consumers and the bus.</summary>
public static class PipelineServiceCollectionExtensions
{
    /// <summary>Everything on MassTransit's in-memory transport (the embedded default), or on RabbitMQ the consumers of <see cref="PipelineOptions.Roles"/> (see <see cref="PipelineBusTransport"/>).</summary>
    /// <exception cref="VideoLongException"><paramref name="options"/> are invalid.</exception>
    public static IServiceCollection AddVideoLongPipeline(this IServiceCollection services, PipelineOptions options)
    {
        services.AddVideoLongPipelineServices(options);
        services.AddMassTransit(bus =>
        {
            bus.AddVideoLongConsumers();
            bus.UsingVideoLongTransport(options);
        });
        return services;
    }

    /// <summary>The services the consumers use, without a bus (tests add the MassTransit test harness instead).</summary>
    public static IServiceCollection AddVideoLongPipelineServices(this IServiceCollection services, PipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton<IJobStore>(_ =>
        {
            Directory.CreateDirectory(options.DataDirectory);
            return SqliteJobStore.OpenAsync(options.JobStorePath, new SqliteJobStoreOptions { StepLease = options.StepLease }, CancellationToken.None).GetAwaiter().GetResult();
        });
        services.AddSingleton(_ => ArtifactCache.OpenAsync(options.ArtifactDirectory, new ArtifactCacheOptions { MaxTotalBytes = options.CacheSizeBytes })
            .GetAwaiter().GetResult());
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<JobEvents>();
        services.AddSingleton<IdempotentStep>();
        services.AddSingleton<FramePreparer>();
        services.AddSingleton<VideoTokenEncoder>();
        services.AddSingleton<AnswerGenerator>();
        services.AddSingleton<JobCancellations>();
        services.AddSingleton<JobCanceller>();
        services.AddLogging();
        services.AddVideoLongCaptionAndAnalysisServices();
        return services;
    }

    /// <summary>The stage consumers, the orchestrator and the job-event observer, with their definitions and request clients.</summary>
    public static void AddVideoLongConsumers(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<PrepareVideoConsumer, PrepareVideoConsumerDefinition>();
        bus.AddConsumer<EncodeVideoConsumer, EncodeVideoConsumerDefinition>();
        bus.AddConsumer<GenerateAnswerConsumer, GenerateAnswerConsumerDefinition>();
        bus.AddConsumer<AnswerQuestionConsumer, AnswerQuestionConsumerDefinition>();
        bus.AddConsumer<JobEventsConsumer>();
        bus.AddConsumer<JobCancellationConsumer, JobCancellationConsumerDefinition>();
        bus.AddConsumer<RunNiahBenchmarkConsumer, RunNiahBenchmarkConsumerDefinition>();
        bus.AddRequestClient<Contracts.PrepareVideo>();
        bus.AddRequestClient<Contracts.EncodeVideo>();
        bus.AddRequestClient<Contracts.GenerateAnswer>();
        bus.AddVideoLongCaptionAndAnalysisConsumers();
    }
}
