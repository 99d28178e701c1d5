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

/// <summary>Decoding is CPU work: a few videos at once.</summary>
public sealed class PrepareVideoConsumerDefinition : ConsumerDefinition<PrepareVideoConsumer>
{
    private readonly PipelineOptions _options;

    public PrepareVideoConsumerDefinition(PipelineOptions options)
    {
        _options = options;
        ConcurrentMessageLimit = 2;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<PrepareVideoConsumer> consumerConfigurator,
        IRegistrationContext context) => StagePolicies.Retry(endpointConfigurator, _options.StageRetries);
}

/// <summary>The vision tower: one video at a time per process (one model worker per GPU).</summary>
public sealed class EncodeVideoConsumerDefinition : ConsumerDefinition<EncodeVideoConsumer>
{
    private readonly PipelineOptions _options;

    public EncodeVideoConsumerDefinition(PipelineOptions options)
    {
        _options = options;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<EncodeVideoConsumer> consumerConfigurator,
        IRegistrationContext context) => StagePolicies.Retry(endpointConfigurator, _options.StageRetries);
}

/// <summary>The language model: one generation at a time per process.</summary>
public sealed class GenerateAnswerConsumerDefinition : ConsumerDefinition<GenerateAnswerConsumer>
{
    private readonly PipelineOptions _options;

    public GenerateAnswerConsumerDefinition(PipelineOptions options)
    {
        _options = options;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<GenerateAnswerConsumer> consumerConfigurator,
        IRegistrationContext context) => StagePolicies.Retry(endpointConfigurator, _options.StageRetries);
}

/// <summary>The orchestrator only waits on the stages; it handles its own faults (no retry: the stages retry).</summary>
public sealed class AnswerQuestionConsumerDefinition : ConsumerDefinition<AnswerQuestionConsumer>
{
    public AnswerQuestionConsumerDefinition() => ConcurrentMessageLimit = 8;
}
