using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using VideoLong.Pipeline.Http;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong serve --model DIR</c>: one process with the HTTP API and the in-memory pipeline. Options are checked
/// before anything listens; a bad one is a one-line error and exit code 2.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliContext cli)
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (several separated by ';').", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var data = new Option<string?>("--data") { Description = "Data folder for the job store, the artifact cache and uploads (default ~/.videolong)." };
        var model = new Option<string?>("--model") { Description = "LLaVA-OneVision checkpoint folder every question is answered with (default: VideoLong-Tiny, models/videolong-tiny)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the model folder." };
        var roots = new Option<string[]>("--allowed-root") { Description = "A folder whose files POST /videos/by-path may name (repeatable)." };
        var keys = new Option<string[]>("--api-key") { Description = "An API key callers send in X-Api-Key (repeatable); none: no authentication." };
        var maxUpload = new Option<int>("--max-upload-mb") { Description = "Largest upload, in MiB.", DefaultValueFactory = _ => 2048 };
        var maxJobs = new Option<int>("--max-jobs-per-key") { Description = "Jobs one API key may have queued or running at once.", DefaultValueFactory = _ => 4 };
        var transport = new Option<string?>("--transport") { Description = "in-memory (default: the pipeline runs in this process) or rabbitmq://HOST[:PORT][/VHOST] (workers run it: videolong worker)." };
        var prefix = new Option<string?>("--queue-prefix") { Description = "Prefix of queue and exchange names on RabbitMQ (the same on serve and every worker)." };
        var command = new Command("serve", "Serve the HTTP API with the pipeline in this process.")
        {
            urls, data, model, tokenizer, roots, keys, maxUpload, maxJobs, transport, prefix,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new HttpApiOptions
            {
                Urls = parse.GetRequiredValue(urls),
                DataDirectory = Path.GetFullPath(parse.GetValue(data) ?? Bus.PipelineOptions.DefaultDataDirectory),
                ModelDirectory = Path.GetFullPath(parse.GetValue(model) ?? Training.DefaultModel.Resolve()),
                TokenizerDirectory = parse.GetValue(tokenizer) is { } t ? Path.GetFullPath(t) : null,
                AllowedRoots = (parse.GetValue(roots) ?? []).Select(Path.GetFullPath).ToArray(),
                ApiKeys = parse.GetValue(keys) ?? [],
                MaxUploadBytes = (long)parse.GetValue(maxUpload) << 20,
                MaxConcurrentJobsPerKey = parse.GetValue(maxJobs),
                Transport = Bus.PipelineTransport.Parse(parse.GetValue(transport)),
                EndpointPrefix = parse.GetValue(prefix),
            };
            if (parse.GetValue(maxUpload) < 1)
            {
                throw new VideoLongException($"Invalid --max-upload-mb {parse.GetValue(maxUpload)}: must be 1 to 1048576.");
            }

            await using WebApplication app = VideoLongApi.Build(options);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            string addresses = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
            await cli.Error.WriteLineAsync($"videolong: serving on {addresses} (OpenAPI at /openapi/v1.json; pipeline {options.Transport}); Ctrl+C stops").ConfigureAwait(false);
            try
            {
                // Ctrl+C through the CLI's token; SIGTERM through the host's lifetime.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping);
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return VideoLongCli.ExitOk;
        });
        return command;
    }
}
