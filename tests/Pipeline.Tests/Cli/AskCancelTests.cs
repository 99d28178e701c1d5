using VideoLong.Pipeline.Cli;
using VideoLong.Pipeline.Jobs;

namespace VideoLong.Pipeline.Tests.Cli;

[Collection(nameof(CliCollection))]
public sealed class When_ask_is_interrupted(TempMedia media)
{
    [Fact]
    public async Task Ctrl_C_cancels_the_job_in_the_store_and_exits_130()
    {
        string video = media.Make("ask-cancel.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p");
        string data = media.PathOf("ask-cancel-data");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var interrupt = new CancellationTokenSource();
        string[] args = ["ask", video, "Describe it.", "--model", Fixtures.Dir("llava_onevision"), "--tokenizer", Fixtures.Dir("tokenizer"), "--frames", "4",
            "--max-new-tokens", "100000", "--ignore-eos", "--data", data, "--json"];
        Task<int> run = VideoLongCli.RunAsync(args, stdout, stderr, interrupt.Token);

        // Interrupt once the job is answering (generation of 100,000 tokens would take minutes).
        string jobs = Path.Combine(data, "jobs.db");
        JobRecord? job = null;
        for (int i = 0; i < 600 && job?.State != JobState.Answering; i++)
        {
            await Task.Delay(100);
            if (File.Exists(jobs))
            {
                using SqliteJobStore peek = await SqliteJobStore.OpenAsync(jobs, null, CancellationToken.None);
                IReadOnlyList<JobRecord> recent = await peek.ListAsync(new JobListQuery { Limit = 1 }, CancellationToken.None);
                job = recent.Count > 0 ? recent[0] : null;
            }
        }

        Assert.Equal(JobState.Answering, job?.State);
        interrupt.Cancel();
        Assert.Equal(VideoLongCli.ExitCancelled, await run.WaitAsync(TimeSpan.FromSeconds(30)));

        using SqliteJobStore store = await SqliteJobStore.OpenAsync(jobs, null, CancellationToken.None);
        JobRecord ended = await store.GetAsync(job!.Id, CancellationToken.None);
        Assert.Equal(JobState.Cancelled, ended.State);
        Assert.True(ended.CancellationRequested);
        Assert.Null(ended.ResultJson);
    }
}
