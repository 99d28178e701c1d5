using VideoLong.Contracts;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_each_stage_consumer_runs_on_the_test_harness(BusVideos media) : IClassFixture<BusVideos>
{
    [Fact]
    public async Task Prepare_encode_and_answer_chain_by_reference_and_the_answer_cites_the_sampled_timestamps()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        ArtifactRef source = await ArtifactRefs.ForFileAsync(media.Video, default);

        VideoPrepared prepared = await bed.RequestAsync<PrepareVideo, VideoPrepared>(new PrepareVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Source = source, FrameSize = 32,
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        });
        Assert.Equal(4, prepared.FrameCount);
        Assert.Equal([0.2, 0.7, 1.2, 1.7], prepared.FrameTimestamps.Select(t => Math.Round(t, 3)));
        Assert.Equal(ArtifactRefs.Scheme, prepared.Frames.Uri.Scheme);
        Assert.False(prepared.FromCache);

        VideoEncoded encoded = await bed.RequestAsync<EncodeVideo, VideoEncoded>(new EncodeVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = BusTestBed.Model,
        });
        Assert.Equal(4 * 4 + 1, encoded.TokenCount);     // the tiny tower: 2x2 pooled tokens a frame + one newline
        Assert.False(encoded.FromCache);

        AnswerGenerated answer = await bed.RequestAsync<GenerateAnswer, AnswerGenerated>(new GenerateAnswer
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, VisualTokens = encoded.VisualTokens, Question = "What happens?", Model = BusTestBed.Model,
            Generation = new GenerationSettings { MaxNewTokens = 3 }, FrameTimestamps = prepared.FrameTimestamps, DurationSeconds = prepared.DurationSeconds,
        });
        Assert.False(string.IsNullOrEmpty(answer.Answer));
        Assert.Equal(prepared.FrameTimestamps, answer.SupportingTimestamps);

        Assert.True(await bed.Harness.Consumed.Any<PrepareVideo>());
        Assert.True(await bed.Harness.Consumed.Any<EncodeVideo>());
        Assert.True(await bed.Harness.Consumed.Any<GenerateAnswer>());
        Assert.True(await bed.Harness.Published.Any<JobProgressed>(x => x.Context.Message.Stage == JobStage.Prepare && x.Context.Message.Done == 4));
    }

    [Fact]
    public async Task A_second_job_on_the_same_frames_and_model_reuses_the_cached_frames_and_tokens()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        ArtifactRef source = await ArtifactRefs.ForFileAsync(media.Video, default);
        var results = new List<(VideoPrepared Prepared, VideoEncoded Encoded)>();
        for (int i = 0; i < 2; i++)
        {
            JobId job = await bed.NewJobAsync();
            VideoPrepared prepared = await bed.RequestAsync<PrepareVideo, VideoPrepared>(new PrepareVideo
            {
                JobId = job, Timestamp = DateTimeOffset.UtcNow, Source = source, FrameSize = 32,
                Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
            });
            VideoEncoded encoded = await bed.RequestAsync<EncodeVideo, VideoEncoded>(new EncodeVideo
            {
                JobId = job, Timestamp = DateTimeOffset.UtcNow, Frames = prepared.Frames, FrameCount = prepared.FrameCount, Model = BusTestBed.Model,
            });
            results.Add((prepared, encoded));
        }

        Assert.False(results[0].Prepared.FromCache || results[0].Encoded.FromCache);
        Assert.True(results[1].Prepared.FromCache && results[1].Encoded.FromCache);
        Assert.Equal(results[0].Prepared.Frames, results[1].Prepared.Frames);
        Assert.Equal(results[0].Encoded.VisualTokens, results[1].Encoded.VisualTokens);
        Assert.Equal(results[0].Prepared.FrameTimestamps, results[1].Prepared.FrameTimestamps);
    }

    [Fact]
    public async Task A_redelivered_stage_message_returns_the_stored_result_without_repeating_the_work()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        var prepare = new PrepareVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Source = await ArtifactRefs.ForFileAsync(media.Video, default), FrameSize = 32,
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        };
        Guid messageId = Guid.NewGuid();
        VideoPrepared first = await bed.RequestAsync<PrepareVideo, VideoPrepared>(prepare, messageId);
        VideoPrepared again = await bed.RequestAsync<PrepareVideo, VideoPrepared>(prepare, messageId);

        // Had the work run again it would have found the frames in the cache (FromCache = true); the stored result says false.
        Assert.False(again.FromCache);
        Assert.Equal(first.Frames, again.Frames);
        Assert.Equal(first.Timestamp, again.Timestamp);

        var encode = new EncodeVideo { JobId = job, Timestamp = DateTimeOffset.UtcNow, Frames = first.Frames, FrameCount = 4, Model = BusTestBed.Model };
        Guid encodeId = Guid.NewGuid();
        VideoEncoded encoded = await bed.RequestAsync<EncodeVideo, VideoEncoded>(encode, encodeId);
        VideoEncoded redelivered = await bed.RequestAsync<EncodeVideo, VideoEncoded>(encode, encodeId);
        Assert.False(redelivered.FromCache);
        Assert.Equal(encoded.Timestamp, redelivered.Timestamp);

        // A different message for a finished step of the same job gets the one stored result too.
        VideoEncoded duplicate = await bed.RequestAsync<EncodeVideo, VideoEncoded>(encode, Guid.NewGuid());
        Assert.Equal(encoded.Timestamp, duplicate.Timestamp);
    }

    [Fact]
    public async Task A_corrupt_video_faults_the_prepare_stage_without_retrying_and_gives_the_step_back()
    {
        await using BusTestBed bed = await BusTestBed.StartAsync();
        JobId job = await bed.NewJobAsync();
        var prepare = new PrepareVideo
        {
            JobId = job, Timestamp = DateTimeOffset.UtcNow, Source = await ArtifactRefs.ForFileAsync(media.Corrupt, default), FrameSize = 32,
            Sampling = new SamplingSettings { Strategy = SamplingStrategy.Uniform, FrameCount = 4 },
        };
        MassTransit.RequestFaultException fault = await Assert.ThrowsAsync<MassTransit.RequestFaultException>(() => bed.RequestAsync<PrepareVideo, VideoPrepared>(prepare));
        Assert.Contains(fault.Fault!.Exceptions, e => e.ExceptionType.StartsWith("VideoLong.", StringComparison.Ordinal));

        StepBegin retry = await bed.Store.TryBeginStepAsync(job, JobStage.Prepare, Guid.NewGuid(), default);
        Assert.Equal(StepOutcome.Begun, retry.Outcome);   // the failed attempt abandoned the step
    }
}
