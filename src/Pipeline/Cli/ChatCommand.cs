using System.CommandLine;
using System.Text;
using System.Text.Json;
using TorchSharp;
using VideoLong.Ingest;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Parallel;
using VideoLong.Language.Tokenization;
using VideoLong.Vision;
using VideoLong.Vision.Models;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Cli;

/// <summary>
/// <c>videolong chat --model DIR [--video F] "prompt"</c>: one answer from a local Qwen2 or LLaVA-OneVision-Qwen2
/// checkpoint folder, streamed to stdout. Videos are sampled uniformly (<c>--frames</c>) at the tower's input size.
/// </summary>
internal static class ChatCommand
{
    private const long MaxChatImagePixels = 8192L * 8192;
    private static readonly string[] EndOfTurnTokens = ["<|im_end|>", "<|endoftext|>"];

    public static Command Create(CliContext cli)
    {
        var prompt = new Argument<string>("PROMPT") { Description = "The question or instruction." };
        var model = new Option<string?>("--model") { Description = "Checkpoint folder (config.json, *.safetensors, tokenizer files); default: VideoLong-Tiny (models/videolong-tiny)." };
        var tokenizerDir = new Option<string?>("--tokenizer") { Description = "Folder with the tokenizer files, when not in the model folder." };
        var image = new Option<string?>("--image") { Description = "An image to ask about (LLaVA-OneVision models; JPEG, PNG, WebP, TIFF)." };
        var video = new Option<string?>("--video") { Description = "A video to ask about (LLaVA-OneVision models)." };
        var frames = new Option<int>("--frames") { Description = "Frames sampled uniformly from --video.", DefaultValueFactory = _ => 8 };
        var system = new Option<string?>("--system") { Description = "System message (default: Qwen2's 'You are a helpful assistant.')." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<double?>("--temperature") { Description = "Sample with this temperature (default: greedy)." };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Sample among the k most likely tokens (0: all).", DefaultValueFactory = _ => 0 };
        var seed = new Option<long?>("--seed") { Description = "Seed for sampling." };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Do not stop at end-of-turn tokens." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Write the answer, its token ids and timings as JSON." };
        var tokensPerFrame = new Option<int?>("--tokens-per-frame") { Description = "HiCo clip-level merge to N tokens per frame (VideoChat-Flash: 16); default: the model's own pooling." };
        var clipLength = new Option<int>("--clip-length") { Description = "Frames per HiCo clip.", DefaultValueFactory = _ => 4 };
        var dropLayers = new Option<string?>("--drop-layers") { Description = "Video-level dropping after these decoder layers, e.g. 4,18 (off by default)." };
        var dropRatios = new Option<string?>("--drop-ratios") { Description = "Kept fraction of visual tokens, ρ_0 = 1 then one per drop layer, e.g. 1,0.75,0.25." };
        var dropMode = new Option<string>("--drop-mode") { Description = "uniform | attention | uniform0_attention.", DefaultValueFactory = _ => "uniform0_attention" };
        var v2peStride = new Option<int?>("--v2pe-stride") { Description = "V2PE: visual tokens advance by stride/256 positions (64 at inference; 256 = standard)." };
        var noTimePrompt = new Option<bool>("--no-time-prompt") { Description = "Do not prepend VideoChat-Flash's time prompt to a video question." };
        var devices = new Option<string?>("--devices")
        {
            Description = "MM-SP: run the language model sequence-parallel over these devices (e.g. cuda:0,cuda:1): a zigzag-sharded ring-attention prefill, then generation over the distributed KV cache.",
        };
        var ulysses = new Option<int>("--ulysses") { Description = "With --devices: the Ulysses degree of LongVILA's 2D attention (1 = ring only).", DefaultValueFactory = _ => 1 };
        var command = new Command("chat", "Answer a prompt (about a video, optionally) with a local Qwen2 or LLaVA-OneVision checkpoint.")
        {
            prompt, model, tokenizerDir, image, video, frames, system, maxNew, temperature, topP, topK, seed, ignoreEos, device, json,
            tokensPerFrame, clipLength, dropLayers, dropRatios, dropMode, v2peStride, noTimePrompt, devices, ulysses,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string modelDir = RequireFolder(parse.GetValue(model) ?? Training.DefaultModel.Resolve(), "--model");
            string tokDir = RequireFolder(parse.GetValue(tokenizerDir) ?? modelDir, "--tokenizer");
            string modelType = ReadModelType(modelDir);
            Qwen2Tokenizer tokenizer = Qwen2Tokenizer.FromPretrained(tokDir);
            var loadOptions = new ModelLoadOptions { Device = parse.GetValue(device)! };
            string? videoPath = parse.GetValue(video);
            string? imagePath = parse.GetValue(image);
            if (videoPath is not null && imagePath is not null)
            {
                throw new VideoLongException("Give --image or --video, not both.");
            }
            int frameCount = parse.GetValue(frames);
            if (frameCount is < 1 or > 4096)
            {
                throw new VideoLongException($"Invalid --frames {frameCount}: must be between 1 and 4096.");
            }

            var vlmOptions = new VlmOptions
            {
                TokensPerFrame = parse.GetValue(tokensPerFrame),
                ClipLength = parse.GetValue(clipLength),
                DropLayers = VlmOptions.ParseList<int>(parse.GetValue(dropLayers), "--drop-layers"),
                DropRatios = VlmOptions.ParseList<double>(parse.GetValue(dropRatios), "--drop-ratios"),
                DropMode = parse.GetValue(dropMode)!,
                V2peStride = parse.GetValue(v2peStride),
                TimePrompt = !parse.GetValue(noTimePrompt),
            };
            vlmOptions.Validate();
            if (vlmOptions.TokensPerFrame is not null && frameCount % vlmOptions.ClipLength != 0)
            {
                throw new VideoLongException($"--frames {frameCount} is not a multiple of the HiCo clip length ({vlmOptions.ClipLength}); use e.g. {Math.Max(1, frameCount / vlmOptions.ClipLength) * vlmOptions.ClipLength}.");
            }

            if (videoPath is null && (vlmOptions.TokensPerFrame is not null || vlmOptions.DropLayers.Count > 0))
            {
                throw new VideoLongException("--tokens-per-frame and --drop-layers apply to videos; give --video.");
            }

            Device[]? parallelDevices = ParseDevices(parse.GetValue(devices));
            if (parallelDevices is not null && vlmOptions.DropLayers.Count > 0)
            {
                throw new VideoLongException("--drop-layers (video-level dropping) does not combine with --devices (sequence-parallel generation); use one of them.");
            }

            if (parallelDevices is null && parse.GetValue(ulysses) != 1)
            {
                throw new VideoLongException("--ulysses applies to sequence-parallel generation; give --devices too.");
            }

            string question = parse.GetRequiredValue(prompt);
            double? videoSeconds = null;
            if (videoPath is not null && vlmOptions.TimePrompt)
            {
                videoSeconds = (await VideoProbe.ProbeAsync(videoPath, cancellationToken: cancellationToken).ConfigureAwait(false)).DurationSeconds;
                question = Language.TimePrompt.WithQuestion(videoSeconds.Value, frameCount, question);
            }

            var content = new List<ChatContent>();
            if (videoPath is not null)
            {
                content.Add(ChatContent.Video);
            }

            if (imagePath is not null)
            {
                content.Add(ChatContent.Image);
            }

            content.Add(ChatContent.FromText(question));
            var messages = new List<ChatMessage>();
            if (parse.GetValue(system) is { } sys)
            {
                messages.Add(new ChatMessage(ChatRoles.System, sys));
            }

            messages.Add(new ChatMessage(ChatRoles.User, content));
            int[] ids = ChatTemplate.Qwen2.Encode(tokenizer, messages, addGenerationPrompt: true);

            var stops = new List<int>();
            if (!parse.GetValue(ignoreEos))
            {
                foreach (string stop in EndOfTurnTokens)
                {
                    if (tokenizer.TokenToId(stop) is { } id)
                    {
                        stops.Add(id);
                    }
                }
            }

            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                DoSample = parse.GetValue(temperature) is not null,
                Temperature = parse.GetValue(temperature) ?? 1.0,
                TopP = parse.GetValue(topP),
                TopK = parse.GetValue(topK),
                Seed = parse.GetValue(seed),
                StopTokenIds = stops,
                PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0,
            };
            options.Validate();

            var watch = System.Diagnostics.Stopwatch.StartNew();
            TokenGenerator generator;
            GenerationPrompt generationPrompt;
            var disposables = new List<IDisposable>();

            // --devices: the language model sequence-parallel over the devices (prefill and distributed KV cache).
            Language.Generation.ICausalLanguageModel SequenceParallel(Qwen2ForCausalLM languageModel)
            {
                var parallel = new SequenceParallelQwen2(languageModel, parallelDevices!) { UlyssesDegree = parse.GetValue(ulysses) };
                disposables.Add(parallel);
                return new SequenceParallelLanguageModel(parallel);
            }

            int visualTokens = 0;
            int? visualTokensAfterDropping = null;
            try
            {
                if (modelType == "llava_onevision")
                {
                    LlavaOnevisionForConditionalGeneration vlm = await LlavaOnevisionForConditionalGeneration.FromPretrainedAsync(modelDir, loadOptions, null, cancellationToken).ConfigureAwait(false);
                    disposables.Add(vlm);
                    Tensor? pixels = null;
                    int[] expanded = ids;
                    if (videoPath is not null)
                    {
                        pixels = await VideoPixelsAsync(videoPath, frameCount, vlm, modelDir, cli, cancellationToken).ConfigureAwait(false);
                        disposables.Add(pixels);
                        expanded = PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [], [(int)vlm.VideoTokenCount(frameCount, vlmOptions)]).Ids;
                    }

                    Tensor? imagePixels = null, imageSizes = null;
                    if (imagePath is not null)
                    {
                        (imagePixels, int h, int w) = ImagePixels(imagePath, vlm, modelDir);
                        disposables.Add(imagePixels);
                        imageSizes = tensor(new long[] { h, w }, [1, 2], device: vlm.LanguageModel.Device);
                        disposables.Add(imageSizes);
                        expanded = PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [(int)vlm.ImageTokenCount(h, w)], []).Ids;
                    }

                    Tensor inputIds = tensor(expanded.Select(x => (long)x).ToArray(), [1, expanded.Length], device: vlm.LanguageModel.Device);
                    disposables.Add(inputIds);
                    Tensor embeds = vlm.BuildInputsEmbeds(new LlavaOnevisionInput
                    {
                        InputIds = inputIds, PixelValuesVideos = pixels, PixelValues = imagePixels, ImageSizes = imageSizes, Options = vlmOptions,
                    });
                    disposables.Add(embeds);

                    // Visual tokens: the placeholders that now hold features; video-level dropping and V2PE as the answer stage applies them.
                    bool[] isVisual = expanded.Select(t => t == vlm.Config.VideoTokenIndex || t == vlm.Config.ImageTokenIndex).ToArray();
                    var compression = VideoPromptCompression.Apply(vlm.LanguageModel, isVisual, vlmOptions);
                    disposables.Add(compression);
                    visualTokens = compression.VisualTokens;
                    visualTokensAfterDropping = compression.VisualTokensAfterDropping;
                    Tensor? positions = compression.PositionIds;
                    Language.Generation.ICausalLanguageModel lm = compression.Model;
                    generator = new TokenGenerator(parallelDevices is null ? lm : SequenceParallel(vlm.LanguageModel));
                    generationPrompt = new GenerationPrompt { InputsEmbeds = embeds, PositionIds = positions };
                }
                else if (modelType == "qwen2")
                {
                    if (videoPath is not null || imagePath is not null)
                    {
                        throw new VideoLongException($"'{modelDir}' is a text-only Qwen2 model; --image and --video need a LLaVA-OneVision checkpoint.");
                    }

                    Qwen2ForCausalLM lm = await Qwen2ForCausalLM.FromPretrainedAsync(modelDir, loadOptions, null, cancellationToken).ConfigureAwait(false);
                    disposables.Add(lm);
                    Tensor inputIds = tensor(ids.Select(x => (long)x).ToArray(), [1, ids.Length], device: lm.Device);
                    disposables.Add(inputIds);
                    generator = parallelDevices is null ? new TokenGenerator(lm) : new TokenGenerator(SequenceParallel(lm));
                    generationPrompt = new GenerationPrompt { InputIds = inputIds };
                }
                else
                {
                    throw new VideoLongException($"'{modelDir}' holds a {modelType} model; chat supports qwen2 and llava_onevision checkpoints.");
                }

                double loadSeconds = watch.Elapsed.TotalSeconds;
                watch.Restart();
                var generated = new List<int>();
                var text = new StringBuilder();
                bool stream = !parse.GetValue(json);
                await foreach (string piece in generator.StreamTextAsync(generationPrompt, options, tokenizer, skipSpecialTokens: true, generated.Add, cancellationToken).ConfigureAwait(false))
                {
                    text.Append(piece);
                    if (stream)
                    {
                        await cli.Out.WriteAsync(piece).ConfigureAwait(false);
                        await cli.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }
                }

                if (stream)
                {
                    await cli.Out.WriteLineAsync().ConfigureAwait(false);
                    if (visualTokens > 0)
                    {
                        await cli.Error.WriteLineAsync($"visual tokens reaching the LLM: {visualTokens}{(visualTokensAfterDropping is { } kept ? $" (after video-level dropping: {kept})" : "")}").ConfigureAwait(false);
                    }
                }
                else
                {
                    await cli.WriteJsonAsync(new
                    {
                        model = modelDir,
                        modelType,
                        prompt = parse.GetRequiredValue(prompt),
                        promptTokens = generationPrompt.InputIds?.shape[1] ?? generationPrompt.InputsEmbeds!.shape[1],
                        answer = text.ToString(),
                        visualTokens,
                        visualTokensAfterDropping,
                        options = vlmOptions,
                        videoSeconds,
                        tokens = generated,
                        loadSeconds,
                        generateSeconds = watch.Elapsed.TotalSeconds,
                    }).ConfigureAwait(false);
                }
            }
            finally
            {
                foreach (IDisposable d in Enumerable.Reverse(disposables))
                {
                    d.Dispose();
                }
            }

            return VideoLongCli.ExitOk;
        });
        return command;
    }

    /// <summary>--devices: a comma-separated list of cpu, cuda or cuda:N (each validated as --device is); null when not given.</summary>
    internal static Device[]? ParseDevices(string? text)
    {
        if (text is null)
        {
            return null;
        }

        string[] names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0 || names.Length > 64)
        {
            throw new VideoLongException($"Invalid --devices '{text}': give 1 to 64 comma-separated devices, e.g. cuda:0,cuda:1.");
        }

        return names.Select(n => new ModelLoadOptions { Device = n }.Resolve().Device).ToArray();
    }

    private static async Task<Tensor> VideoPixelsAsync(string path, int frameCount, LlavaOnevisionForConditionalGeneration vlm, string modelDir,
        CliContext cli, CancellationToken cancellationToken)
    {
        int size = vlm.Config.VisionConfig.ImageSize;
        var decoder = await VideoDecoder.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        SamplePlan plan = FrameSamplers.Uniform(decoder.Metadata.Timeline, frameCount, policy: OutOfRangePolicy.RepeatLast);
        var frames = new List<VideoFrame>(frameCount);
        ProgressBar bar = cli.Progress("frames");
        await foreach (VideoFrame frame in decoder.DecodeAsync(plan, FrameFormat.Model(size, size, ResizeMode.Stretch), null, cancellationToken).ConfigureAwait(false))
        {
            frames.Add(frame);
            bar.Report((frames.Count, frameCount));
        }

        bar.Finish();
        frames.Sort((a, b) => a.SampleIndex.CompareTo(b.SampleIndex));
        return VisionInputs.VideoPixels(frames, VisionInputs.NormalizationFor(modelDir), vlm.LanguageModel.Device, vlm.LanguageModel.DType);
    }

    /// <summary>An image as anyres tiles [1, 1 + tiles, 3, S, S] in the model's dtype and device, with its (height, width).</summary>
    private static (Tensor Pixels, int Height, int Width) ImagePixels(string path, LlavaOnevisionForConditionalGeneration vlm, string modelDir)
    {
        // Chat images are decoded whole: cap them well below the gigapixel limits of the tiles verb.
        var limits = new Ingest.Images.LargeImageOptions { PixelLimit = MaxChatImagePixels, UntiledPixelLimit = MaxChatImagePixels, MaxRegionPixels = MaxChatImagePixels };
        using Ingest.Images.LargeImage image = Ingest.Images.LargeImage.Open(path, limits);
        Ingest.Images.ImageRegion region = image.ReadRegion(image.Bounds);
        using Tensor cpu = AnyresImageProcessor.Process(region.Pixels, image.Width, image.Height, vlm.Config.VisionConfig.ImageSize,
            vlm.Config.ImageGridPinpoints, VisionInputs.NormalizationFor(modelDir, forVideo: false));
        return (cpu.to(vlm.LanguageModel.DType).to(vlm.LanguageModel.Device), image.Height, image.Width);
    }

    private static string RequireFolder(string path, string option)
    {
        string full = Path.GetFullPath(path);
        return Directory.Exists(full) ? full : throw new VideoLongException($"{option} '{path}' is not a folder.");
    }

    private static string ReadModelType(string modelDir)
    {
        string config = Path.Combine(modelDir, "config.json");
        if (!File.Exists(config))
        {
            throw new VideoLongException($"'{modelDir}' has no config.json; give a Hugging Face checkpoint folder.");
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(config));
            return doc.RootElement.TryGetProperty("model_type", out JsonElement t) && t.GetString() is { } type
                ? type
                : throw new VideoLongException($"'{config}' has no model_type.");
        }
        catch (JsonException e)
        {
            throw new VideoLongException($"'{config}' is not valid JSON: {e.Message}");
        }
    }
}
