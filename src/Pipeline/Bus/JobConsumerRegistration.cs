using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace VideoLong.Pipeline.Bus;

/// <summary>Captions and large-image analysis: their services, consumers, definitions and request clients.</summary>
public static class JobConsumerRegistration
{
    public static IServiceCollection AddVideoLongCaptionAndAnalysisServices(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<CaptionGenerator>();
        services.AddSingleton<RegionAnalyzer>();
        return services;
    }

    public static void AddVideoLongCaptionAndAnalysisConsumers(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<CaptionVideoConsumer, CaptionVideoConsumerDefinition>();
        bus.AddConsumer<GenerateCaptionsConsumer, GenerateCaptionsConsumerDefinition>();
        bus.AddConsumer<AnalyzeImageConsumer, AnalyzeImageConsumerDefinition>();
        bus.AddRequestClient<Contracts.GenerateCaptions>();
    }
}

/// <summary>The caption orchestrator waits on stages; several may be in flight.</summary>
public sealed class CaptionVideoConsumerDefinition : ConsumerDefinition<CaptionVideoConsumer>
{
    public CaptionVideoConsumerDefinition() => ConcurrentMessageLimit = 8;
}

/// <summary>The language model: one caption job at a time per process.</summary>
public sealed class GenerateCaptionsConsumerDefinition(PipelineOptions options) : StageConsumerDefinition<GenerateCaptionsConsumer>(options, 1);

/// <summary>The VLM over regions: one analysis at a time per process. It ends its own job on failure, so it is not retried.</summary>
public sealed class AnalyzeImageConsumerDefinition : ConsumerDefinition<AnalyzeImageConsumer>
{
    public AnalyzeImageConsumerDefinition() => ConcurrentMessageLimit = 1;
}
