using System.Collections.Concurrent;
using System.Security.Cryptography;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Tokenization;
using VideoLong.Vision.Models;

namespace VideoLong.Pipeline.Bus;

/// <summary>A loaded LLaVA-OneVision checkpoint and its tokenizer; <see cref="Gate"/> serialises forwards over it.</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(string directory, string fingerprint, LlavaOnevisionForConditionalGeneration model, Qwen2Tokenizer tokenizer)
    {
        Directory = directory;
        Fingerprint = fingerprint;
        Model = model;
        Tokenizer = tokenizer;
    }

    public string Directory { get; }

    /// <summary>SHA-256 of the checkpoint's config and weight file names and sizes: part of visual-token keys.</summary>
    public string Fingerprint { get; }

    public LlavaOnevisionForConditionalGeneration Model { get; }

    public Qwen2Tokenizer Tokenizer { get; }

    /// <summary>One forward at a time per model, whichever consumer runs it.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public void Dispose()
    {
        Model.Dispose();
        Gate.Dispose();
    }
}

/// <summary>
/// Loads each checkpoint once per process and shares it between consumers. Thread-safe: concurrent first requests for
/// one model wait on the same load; a failed load is forgotten, so a later request tries again.
/// </summary>
public sealed class ModelRegistry(PipelineOptions options) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<LoadedModel>>> _models = new(StringComparer.Ordinal);

    /// <summary>The checkpoint folder a message's model names: an absolute path, or a name under <see cref="PipelineOptions.ModelDirectory"/>.</summary>
    public string Resolve(string model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        string path = Path.IsPathRooted(model) || options.ModelDirectory is null ? Path.GetFullPath(model) : Path.GetFullPath(Path.Combine(options.ModelDirectory, model));
        return Directory.Exists(path) && File.Exists(Path.Combine(path, "config.json"))
            ? path
            : throw new VideoLongException($"Model '{model}' is not a checkpoint folder with a config.json ({path}).");
    }

    /// <summary>Side of the square input of the model's vision tower, read from its config (no weights are loaded).</summary>
    public int TowerSize(string model) => LlavaOnevisionConfig.Load(Resolve(model)).VisionConfig.ImageSize;

    /// <summary>Decoder layers of the model's language model, read from its config (no weights are loaded).</summary>
    public int TextLayers(string model) => LlavaOnevisionConfig.Load(Resolve(model)).TextConfig.NumHiddenLayers;

    public Task<LoadedModel> GetAsync(string model, CancellationToken cancellationToken)
    {
        string directory = Resolve(model);
        Lazy<Task<LoadedModel>> entry = _models.GetOrAdd(directory, d => new Lazy<Task<LoadedModel>>(() => LoadAsync(d)));
        Task<LoadedModel> load = entry.Value;
        if (load.IsFaulted || load.IsCanceled)
        {
            _models.TryRemove(new KeyValuePair<string, Lazy<Task<LoadedModel>>>(directory, entry));
        }

        return load.WaitAsync(cancellationToken);
    }

    public void Dispose()
    {
        foreach (Lazy<Task<LoadedModel>> entry in _models.Values)
        {
            if (entry.IsValueCreated && entry.Value.IsCompletedSuccessfully)
            {
                entry.Value.Result.Dispose();
            }
        }

        _models.Clear();
    }

    // Loads are not cancelled by the first caller's token: other callers may be waiting on the same load.
    private async Task<LoadedModel> LoadAsync(string directory)
    {
        var load = new ModelLoadOptions { Device = options.Device };
        LlavaOnevisionForConditionalGeneration model = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(directory, load, null, CancellationToken.None).ConfigureAwait(false);
        try
        {
            Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(options.TokenizerDirectory ?? directory);
            return new LoadedModel(directory, Fingerprint(directory), model, tokenizer);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static string Fingerprint(string directory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(File.ReadAllBytes(Path.Combine(directory, "config.json")));
        foreach (FileInfo file in new DirectoryInfo(directory).GetFiles("*.safetensors").OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{file.Name}:{file.Length};"));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
