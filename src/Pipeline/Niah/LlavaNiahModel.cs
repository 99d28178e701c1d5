using System.Text;
using VideoLong.Contracts;
using VideoLong.Ingest;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Tokenization;
using VideoLong.Pipeline.Bus;
using VideoLong.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Niah;

/// <summary>
/// <see cref="INiahModel"/> over the project's LLaVA-OneVision/Qwen2 classes: frames → tower (+ HiCo clip merge) →
/// projector as per-frame blocks; questions answered over inputs_embeds with the visual tokens spliced in for the
/// <c>&lt;video&gt;</c> placeholders, V2PE positions and video-level dropping as <c>videolong chat</c> applies them.
/// </summary>
public sealed class LlavaNiahModel : INiahModel
{
    private static readonly string[] EndOfTurnTokens = ["<|im_end|>", "<|endoftext|>"];
    private readonly LoadedModel _model;
    private readonly VlmOptions _options;

    public LlavaNiahModel(LoadedModel model, CompressionSettings compression)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(compression);
        _model = model;
        _options = new VlmOptions
        {
            TokensPerFrame = compression.TokensPerFrame,
            DropLayers = compression.DropLayers,
            DropRatios = compression.DropRatios,
            DropMode = compression.DropMode switch
            {
                TokenDropMode.Uniform => "uniform",
                TokenDropMode.Attention => "attention",
                _ => "uniform0_attention",
            },
            V2peStride = compression.V2peStride,
            TimePrompt = false,
        };
        VideoPromptCompression.Validate(_options, model.Model.Config.TextConfig.NumHiddenLayers);

        LlavaOnevisionForConditionalGeneration vlm = model.Model;
        Info = new NiahModelInfo
        {
            Model = model.Directory,
            Fingerprint = model.Fingerprint,
            TokensPerFrame = (int)(vlm.VideoTokenCount(1, _options) - 1),
            ClipLength = _options.TokensPerFrame is null ? 1 : _options.ClipLength,
            FrameSize = vlm.Config.VisionConfig.ImageSize,
            DropLayers = _options.DropLayers,
            DropRatios = _options.DropRatios,
            DropMode = _options.DropLayers.Count > 0 ? _options.DropMode : null,
            V2peStride = _options.V2peStride,
            Device = vlm.LanguageModel.Device.ToString(),
        };
    }

    public NiahModelInfo Info { get; }

    public async Task<NiahVisualTokens> EncodeFramesAsync(IReadOnlyList<VideoFrame> frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0 || frames.Count % Info.ClipLength != 0)
        {
            throw new VideoLongException($"NIAH: {frames.Count} frames cannot be encoded; give a positive multiple of the clip length {Info.ClipLength}.");
        }

        await _model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using IDisposable noGrad = no_grad();
            using DisposeScope scope = NewDisposeScope();
            LlavaOnevisionForConditionalGeneration vlm = _model.Model;
            Tensor pixels = VisionInputs.VideoPixels(frames, VisionInputs.NormalizationFor(_model.Directory), vlm.LanguageModel.Device, vlm.LanguageModel.DType);
            Tensor tokens = vlm.EncodeVideos(pixels, _options, null, cancellationToken);                              // [F·t + 1, H]
            long perFrame = Info.TokensPerFrame, f = frames.Count;
            Tensor blocks = tokens.narrow(0, 0, f * perFrame).reshape(f, perFrame, -1);      // [F, t, H]
            Tensor trailer = tokens.narrow(0, f * perFrame, tokens.shape[0] - (f * perFrame)); // [1, H]
            return new NiahVisualTokens(blocks.contiguous().MoveToOuterDisposeScope(), trailer.contiguous().MoveToOuterDisposeScope());
        }
        finally
        {
            _model.Gate.Release();
        }
    }

    public async Task<string> AnswerAsync(Tensor visual, string question, int maxNewTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(visual);
        Qwen2Tokenizer tokenizer = _model.Tokenizer;
        await _model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using Prompt prompt = BuildPrompt(visual, question, []);
            var options = new GenerationOptions
            {
                MaxNewTokens = maxNewTokens,
                StopTokenIds = EndOfTurnTokens.Select(tokenizer.TokenToId).OfType<int>().ToArray(),
                PadTokenId = tokenizer.TokenToId("<|endoftext|>") ?? 0,
            };
            var text = new StringBuilder();
            await foreach (string piece in new TokenGenerator(prompt.Model).StreamTextAsync(
                new GenerationPrompt { InputsEmbeds = prompt.Embeds, PositionIds = prompt.Positions }, options, tokenizer, skipSpecialTokens: true, null,
                cancellationToken).ConfigureAwait(false))
            {
                text.Append(piece);
            }

            return text.ToString().Trim();
        }
        finally
        {
            _model.Gate.Release();
        }
    }

    public async Task<TeacherForcedResult?> TeacherForcedAsync(Tensor visual, string question, string answer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(visual);
        ArgumentException.ThrowIfNullOrEmpty(answer);
        int[] answerIds = _model.Tokenizer.Encode(answer);
        if (answerIds.Length == 0)
        {
            throw new VideoLongException($"NIAH: the answer '{answer}' tokenizes to nothing.");
        }

        await _model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using IDisposable noGrad = no_grad();
            using Prompt prompt = BuildPrompt(visual, question, []);
            ICausalLanguageModel lm = prompt.Model;
            Device device = lm.Device;
            int length = (int)prompt.Embeds.shape[1];
            using IKeyValueCache cache = lm.CreateCache(1, length + answerIds.Length);
            using Tensor mask = ones(1, length + answerIds.Length, ScalarType.Int64, device);
            using Tensor positions = prompt.Positions?.to(ScalarType.Float32, device) ?? arange(length, ScalarType.Float32, device).unsqueeze(0);
            float next = positions[0, length - 1].item<float>() + 1;

            // The prefill predicts the first answer token; each answer token fed back (teacher forcing) predicts the next.
            var predicted = new int[answerIds.Length];
            using (Tensor logits = lm.NextTokenLogits(null, prompt.Embeds, mask.narrow(1, 0, length), positions, cache))
            {
                predicted[0] = (int)logits.argmax(-1).item<long>();
            }

            for (int k = 1; k < answerIds.Length; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using Tensor id = tensor(new long[] { answerIds[k - 1] }, [1, 1], ScalarType.Int64).to(device);
                using Tensor position = tensor(new[] { next + k - 1 }, [1, 1], ScalarType.Float32).to(device);
                using Tensor logits = lm.NextTokenLogits(id, null, mask.narrow(1, 0, cache.Length + 1), position, cache);
                predicted[k] = (int)logits.argmax(-1).item<long>();
            }

            return new TeacherForcedResult(answerIds, predicted, _model.Tokenizer.Decode(predicted, skipSpecialTokens: true));
        }
        finally
        {
            _model.Gate.Release();
        }
    }

    /// <summary>Chat prompt (system, user: video + question, assistant header) as embeddings with the visual tokens spliced in.</summary>
    private Prompt BuildPrompt(Tensor visual, string question, int[] suffix)
    {
        using IDisposable noGrad = no_grad();
        using DisposeScope scope = NewDisposeScope();
        LlavaOnevisionForConditionalGeneration vlm = _model.Model;
        Qwen2Tokenizer tokenizer = _model.Tokenizer;
        int[] ids = ChatTemplate.Qwen2.Encode(tokenizer, [new ChatMessage(ChatRoles.User, [ChatContent.Video, ChatContent.FromText(question)])], addGenerationPrompt: true);
        int[] expanded = [.. PlaceholderExpander.ForTokenizer(tokenizer).Expand(ids, [], [(int)visual.shape[0]]).Ids, .. suffix];
        Tensor idTensor = tensor(expanded.Select(x => (long)x).ToArray(), [1, expanded.Length], device: vlm.LanguageModel.Device);
        Tensor embeds = vlm.LanguageModel.EmbedTokens(idTensor);                                   // [1, L, H]
        embeds = LlavaOnevisionForConditionalGeneration.Splice(embeds, idTensor, vlm.Config.VideoTokenIndex, visual, "Video", "Hint: the NIAH sequence and the prompt disagree.");
        bool[] isVisual = expanded.Select(t => t == vlm.Config.VideoTokenIndex).ToArray();
        var compression = VideoPromptCompression.Apply(vlm.LanguageModel, isVisual, _options);   // dropping and V2PE as chat and the answer stage apply them
        return new Prompt(embeds.MoveToOuterDisposeScope(), compression);
    }

    private sealed record Prompt(Tensor Embeds, VideoPromptCompression Compression) : IDisposable
    {
        public Tensor? Positions => Compression.PositionIds;

        public ICausalLanguageModel Model => Compression.Model;

        public void Dispose()
        {
            Embeds.Dispose();
            Compression.Dispose();
        }
    }
}
