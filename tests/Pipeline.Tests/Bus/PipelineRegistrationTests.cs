using Microsoft.Extensions.DependencyInjection;
using VideoLong.Pipeline.Bus;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_the_pipeline_is_registered
{
    [Theory]
    [InlineData("data", "Invalid data folder")]
    [InlineData("model", "Invalid model folder")]
    [InlineData("cache", "Invalid cache size")]
    public void Invalid_options_are_refused_naming_the_setting(string wrong, string message)
    {
        var options = new PipelineOptions
        {
            DataDirectory = wrong == "data" ? " " : Path.GetTempPath(),
            ModelDirectory = wrong == "model" ? "/no/such/videolong/models" : null,
            CacheSizeBytes = wrong == "cache" ? 10 : 1L << 30,
        };
        VideoLongException e = Assert.Throws<VideoLongException>(() => new ServiceCollection().AddVideoLongPipeline(options));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_requests_for_one_checkpoint_share_a_single_loaded_model()
    {
        using var registry = new ModelRegistry(new PipelineOptions { TokenizerDirectory = Fixtures.Dir("tokenizer") });
        LoadedModel[] models = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => registry.GetAsync(BusTestBed.Model, CancellationToken.None)));
        Assert.All(models, m => Assert.Same(models[0], m));
        Assert.Equal(32, registry.TowerSize(BusTestBed.Model));
        Assert.Throws<VideoLongException>(() => registry.Resolve("/no/such/checkpoint"));
    }
}
