using MassTransit;

namespace VideoLong.Pipeline.Bus;

/// <summary>Retries with exponential backoff for transient failures; input errors (<see cref="VideoLongException"/>) fault at once.</summary>
internal static class StagePolicies
{
    public static void Retry(IReceiveEndpointConfigurator endpoint, int retries) =>
        endpoint.UseMessageRetry(r =>
        {
            r.Exponential(retries, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(300));
            r.Ignore<VideoLongException>();
        });
}

/// <summary>A stage: a concurrency limit per process and retries with backoff.</summary>
public abstract class StageConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    private readonly PipelineOptions _options;
    private readonly int _concurrentMessages;

    protected StageConsumerDefinition(PipelineOptions options, int concurrentMessages)
    {
        _options = options;
        _concurrentMessages = concurrentMessages;
        ConcurrentMessageLimit = concurrentMessages;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<TConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        // On RabbitMQ a process takes no more messages than it runs at once, so idle workers get the rest.
        endpointConfigurator.PrefetchCount = _concurrentMessages;
        StagePolicies.Retry(endpointConfigurator, _options.StageRetries);
    }
}

/// <summary>Decoding is CPU work: a few videos at once.</summary>
public sealed class PrepareVideoConsumerDefinition(PipelineOptions options) : StageConsumerDefinition<PrepareVideoConsumer>(options, 2);

/// <summary>The vision tower: one video at a time per process (one model worker per GPU).</summary>
public sealed class EncodeVideoConsumerDefinition(PipelineOptions options) : StageConsumerDefinition<EncodeVideoConsumer>(options, 1);

/// <summary>The language model: one generation at a time per process.</summary>
public sealed class GenerateAnswerConsumerDefinition(PipelineOptions options) : StageConsumerDefinition<GenerateAnswerConsumer>(options, 1);

/// <summary>The orchestrator only waits on the stages; it handles its own faults (no retry: the stages retry).</summary>
public sealed class AnswerQuestionConsumerDefinition : ConsumerDefinition<AnswerQuestionConsumer>
{
    public AnswerQuestionConsumerDefinition() => ConcurrentMessageLimit = 8;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<AnswerQuestionConsumer> consumerConfigurator,
        IRegistrationContext context) => endpointConfigurator.PrefetchCount = 8;
}
