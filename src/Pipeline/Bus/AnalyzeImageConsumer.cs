using System.Text.Json;
using MassTransit;
using VideoLong.Contracts;
using VideoLong.Ingest.Images;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// AnalyzeImage in one consumer (regions are read, encoded and answered one at a time, so nothing is worth caching
/// between stages): Preparing checks the request and lays the grid; the regions run in Answering with progress per
/// region and a stop between regions on cancellation; the result is stored and ImageAnalyzed published.
/// </summary>
[PipelineRole(PipelineRoles.Answer)]
public sealed class AnalyzeImageConsumer(IJobStore store, RegionAnalyzer analyzer, IdempotentStep step) : IConsumer<AnalyzeImage>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task Consume(ConsumeContext<AnalyzeImage> context)
    {
        AnalyzeImage command = context.Message;
        CancellationToken ct = context.CancellationToken;
        if ((await store.GetAsync(command.JobId, ct)).State.IsTerminal())
        {
            return;
        }

        JobStage stage = JobStage.Prepare;
        try
        {
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Preparing, ct);
            using (LargeImage image = LargeImage.Open(RegionAnalyzer.SourcePathOf(command)))
            {
                RegionAnalyzer.Plan(image, command);
            }

            stage = JobStage.Answer;
            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Answering, ct);
            ImageAnalysis analysis = await step.RunAsync(command.JobId, JobStage.Answer, context.MessageId ?? NewId.NextGuid(),
                c => analyzer.AnalyzeAsync(command,
                    (_, _) => JobFlow.ThrowIfCancelledAsync(store, command.JobId, c),
                    (done, total) => JobFlow.ProgressAsync(store, context, command.JobId, JobStage.Answer, done, total, c), c),
                ct);

            await JobFlow.AdvanceAsync(store, command.JobId, JobState.Answering, ct);
            await store.SucceedAsync(command.JobId, JsonSerializer.Serialize(analysis, Json), ct);
            await context.Publish(new ImageAnalyzed { JobId = command.JobId, Timestamp = DateTimeOffset.UtcNow, Regions = analysis.Regions }, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            await JobFlow.EndAsync(store, context, command.JobId, stage, e);
        }
    }
}
