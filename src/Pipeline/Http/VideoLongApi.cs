using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using VideoLong.Pipeline.Bus;

namespace VideoLong.Pipeline.Http;

/// <summary>
/// The HTTP API and the in-memory pipeline in one <see cref="WebApplication"/> (<c>videolong serve</c>): video routes,
/// job routes, <c>/health</c> and the OpenAPI document at <c>/openapi/v1.json</c>. Every error is a ProblemDetails.
/// </summary>
public static class VideoLongApi
{
    /// <summary>Builds the application (not started).</summary>
    /// <exception cref="VideoLongException"><paramref name="options"/> are invalid.</exception>
    public static WebApplication Build(HttpApiOptions options, LogLevel minimumLogLevel = LogLevel.Information)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(options.VideoDirectory);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = options.DataDirectory });
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = 1 << 20);   // raised per request by the upload route
        builder.Logging.SetMinimumLevel(minimumLogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", minimumLogLevel > LogLevel.Warning ? minimumLogLevel : LogLevel.Warning);   // no line per request
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new AllowedRoots(options.AllowedRoots));
        builder.Services.AddSingleton<VideoCatalog>();
        builder.Services.AddSingleton<ImageCatalog>();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(json => ApiJson.Configure(json.SerializerOptions));
        builder.Services.AddOpenApi();
        builder.Services.AddVideoLongPipeline(new PipelineOptions
        {
            DataDirectory = options.DataDirectory,
            TokenizerDirectory = options.TokenizerDirectory,
            Transport = options.Transport,
            Roles = options.Transport.IsRabbitMq ? PipelineRoles.None : PipelineRoles.All,   // on RabbitMQ the workers run the stages
            EndpointPrefix = options.EndpointPrefix,
        });

        WebApplication app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.MapOpenApi();
        app.MapGet("/health", () => TypedResults.Ok(new { status = "ok" })).WithName("Health").WithTags("Service");
        app.MapVideoRoutes();
        app.MapJobRoutes();
        app.MapImageRoutes();
        app.MapCaptionAndAnalysisRoutes();
        app.MapNiahRoutes();
        return app;
    }
}
