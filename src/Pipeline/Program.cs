using VideoLong.Pipeline.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;     // let the running step stop cleanly (FFmpeg processes are killed with their children)
    cancel.Cancel();
};

return await VideoLongCli.RunAsync(args, Console.Out, Console.Error, cancel.Token);
