using System.Diagnostics;
using System.Text.Json;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Models.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Bench;

/// <summary>
/// Long-video question on a randomly initialised LLaVA-OneVision-style VLM (SigLIP-so400m-384 tower, HiCo merge to 16
/// tokens per frame, projector, Qwen2-0.5B-sized LLM), frames already decoded (random pixels): visual tokens, vision +
/// merge time, LLM prefill time with and without video-level dropping, and a whole question (encode + prefill + 16 tokens).
/// <c>--no-merge</c> measures the LLM prefill of the uncompressed 729 tokens per frame instead.
/// </summary>
internal static class VlmBench
{
    private const int TextBefore = 40;
    private const int TextAfter = 24;

    private const string Config = """
        {"model_type": "llava_onevision", "image_token_index": 151646, "video_token_index": 151647, "vision_feature_layer": -1,
         "vision_feature_select_strategy": "full", "image_grid_pinpoints": [[384, 384]], "tie_word_embeddings": true,
         "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
                           "num_attention_heads": 16, "image_size": 384, "patch_size": 14},
         "text_config": {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                         "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 524288, "tie_word_embeddings": true}}
        """;

    public static void Run(int frames, bool merge, int tokensPerFrame)
    {
        bool cuda = cuda_is_available();
        Device device = cuda ? CUDA : CPU;
        ScalarType dtype = cuda ? ScalarType.BFloat16 : ScalarType.Float32;
        manual_seed(0);
        var result = new Dictionary<string, object> { ["device"] = cuda ? "cuda" : "cpu", ["frames"] = frames, ["merge"] = merge };
        using (no_grad())
        {
            using var vlm = new LlavaOnevisionForConditionalGeneration(LlavaOnevisionConfig.Parse(Config, "bench"), device, dtype);
            vlm.eval();
            Qwen2ForCausalLM lm = vlm.LanguageModel;
            int hidden = vlm.Config.TextConfig.HiddenSize;
            var options = new VlmOptions { TokensPerFrame = tokensPerFrame };

            Tensor visual;
            if (merge)
            {
                using (Tensor warm = randn([1, 8, 3, 384, 384], dtype: dtype, device: device))
                {
                    vlm.EncodeVideos(warm, options).Dispose();
                }

                using Tensor pixels = randn([1, frames, 3, 384, 384], dtype: dtype, device: device);
                ModelBench.Sync(cuda);
                var sw = Stopwatch.StartNew();
                visual = vlm.EncodeVideos(pixels, options);                          // [F·16 + 1, H]
                ModelBench.Sync(cuda);
                result["vision_and_merge_s"] = sw.Elapsed.TotalSeconds;
            }
            else
            {
                visual = randn([(frames * 729L) + 1, hidden], dtype: dtype, device: device);   // the tower's 27×27 tokens, uncompressed
            }

            using (visual)
            {
                long nv = visual.shape[0];
                result["visual_tokens"] = nv;
                using Tensor before = lm.EmbedTokens(randint(0, 151000, [1, TextBefore], dtype: ScalarType.Int64, device: device));
                using Tensor after = lm.EmbedTokens(randint(0, 151000, [1, TextAfter], dtype: ScalarType.Int64, device: device));
                using Tensor embeds = cat([before, visual.unsqueeze(0), after], 1);       // [1, L, H]
                result["sequence_tokens"] = embeds.shape[1];
                int runs = nv > 200_000 ? 1 : 3;
                result["prefill_s"] = ModelBench.Timed(() => lm.forward(new Qwen2CausalLMInput { InputsEmbeds = embeds, LastPositionLogitsOnly = true }).Dispose(),
                    cuda, warmup: runs == 1 ? 0 : 1, runs);

                VideoTokenDropping dropping = VideoTokenDropping.ModelCard(TextBefore, (int)nv);
                result["drop"] = "uniform0_attention, layers [4, 18], ratios [1, 0.75, 0.25]";
                result["prefill_with_dropping_s"] = ModelBench.Timed(() => lm.forward(new Qwen2CausalLMInput
                {
                    InputsEmbeds = embeds, LastPositionLogitsOnly = true, VideoTokenDropping = dropping,
                }).Dispose(), cuda, warmup: runs == 1 ? 0 : 1, runs);

                if (merge)
                {
                    // The whole question: vision + merge (measured above) + prefill + 16 greedy tokens with the KV cache.
                    var generator = new TokenGenerator(lm);
                    var sw = Stopwatch.StartNew();
                    generator.Generate(new GenerationPrompt { InputsEmbeds = embeds }, new GenerationOptions { MaxNewTokens = 16 });
                    ModelBench.Sync(cuda);
                    result["prefill_and_16_tokens_s"] = sw.Elapsed.TotalSeconds;
                    result["whole_question_s"] = (double)result["vision_and_merge_s"] + sw.Elapsed.TotalSeconds;
                }
            }
        }

        Console.WriteLine(JsonSerializer.Serialize(result));
    }
}
