using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Vision.Models.Siglip;
using static TorchSharp.torch;

namespace VideoLong.Bench;

/// <summary>
/// The same measurements as tools/reference/bench_torch.py (PyTorch eager), on our TorchSharp models: a randomly
/// initialised Qwen2-0.5B-sized LLM and SigLIP-so400m-384 tower in bf16 on CUDA (fp32 on CPU). Prints one JSON object.
/// </summary>
internal static class ModelBench
{
    private const string Qwen2HalfB = """
        {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
         "num_key_value_heads": 2, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "tie_word_embeddings": true}
        """;

    /// <summary>SigLIP-so400m stages on their own (embeddings only, embeddings + 1 layer, + 13 layers, whole tower) for profiling.</summary>
    public static void RunSiglipStages()
    {
        bool cuda = cuda_is_available();
        Device device = cuda ? CUDA : CPU;
        ScalarType dtype = cuda ? ScalarType.BFloat16 : ScalarType.Float32;
        var result = new Dictionary<string, object>();
        using (no_grad())
        {
            var tower = new SiglipVisionModel(SiglipVisionConfig.So400mPatch14_384, device, dtype);
            tower.eval();
            int images = cuda ? 64 : 2;
            using Tensor pixels = randn([images, 3, 384, 384], dtype: dtype, device: device);
            foreach (int layer in new[] { 0, 1, 13, 27 })
            {
                result[$"features_layer{layer}_ms"] = 1000 * Timed(() => tower.ForwardFeatures(pixels, layer).Dispose(), cuda, warmup: 2, runs: 5);
            }

            result["forward_ms"] = 1000 * Timed(() => tower.forward(pixels).Dispose(), cuda, warmup: 2, runs: 5);

            // The layer's pieces alone: attention through SDPA with SigLIP's shapes, and its two big projections.
            using Tensor q = randn([images, 729, 16, 72], dtype: dtype, device: device).transpose(1, 2);
            using Tensor k = randn([images, 729, 16, 72], dtype: dtype, device: device).transpose(1, 2);
            using Tensor v = randn([images, 729, 16, 72], dtype: dtype, device: device).transpose(1, 2);
            result["sdpa_ms"] = 1000 * Timed(() => nn.functional.scaled_dot_product_attention(q, k, v).Dispose(), cuda, warmup: 2, runs: 5);
            using Tensor x = randn([images, 729, 1152], dtype: dtype, device: device);
            using var fc1 = nn.Linear(1152, 4304, device: device, dtype: dtype);
            result["linear_1152_4304_ms"] = 1000 * Timed(() => fc1.forward(x).Dispose(), cuda, warmup: 2, runs: 5);
            result["functional_linear_ms"] = 1000 * Timed(() => nn.functional.linear(x, fc1.weight!, fc1.bias).Dispose(), cuda, warmup: 2, runs: 5);
            result["addmm_linear_ms"] = 1000 * Timed(() => Vision.Layers.LinearOps.Apply(fc1, x).Dispose(), cuda, warmup: 2, runs: 5);
            using Tensor up = randn([images, 729, 4304], dtype: dtype, device: device);
            result["gelu_tanh_ms"] = 1000 * Timed(() => nn.functional.gelu(up, TorchSharp.Modules.GELU.Approximate.tanh).Dispose(), cuda, warmup: 2, runs: 5);
            using var ln = nn.LayerNorm(1152, 1e-6, device: device, dtype: dtype);
            result["layernorm_ms"] = 1000 * Timed(() => ln.forward(x).Dispose(), cuda, warmup: 2, runs: 5);
        }

        Console.WriteLine(JsonSerializer.Serialize(result));
    }

    public static void Run(bool quick)
    {
        bool cuda = cuda_is_available();
        Device device = cuda ? CUDA : CPU;
        ScalarType dtype = cuda ? ScalarType.BFloat16 : ScalarType.Float32;
        var result = new Dictionary<string, object>
        {
            ["device"] = cuda ? "cuda" : "cpu",
            ["torch"] = Environment.GetEnvironmentVariable("VIDEOLONG_TORCH_VERSION") ?? "libtorch-cpu 2.10.0",
        };
        manual_seed(0);
        using (no_grad())
        {
            var model = new Qwen2ForCausalLM(Qwen2Config.Parse(Qwen2HalfB, "qwen2-0.5b"), device, dtype);
            model.eval();
            foreach (int n in quick || !cuda ? new[] { 4096 } : new[] { 4096, 32768 })
            {
                using Tensor ids = randint(0, 151936, [1, n], dtype: ScalarType.Int64, device: device);
                double s = Timed(() =>
                {
                    using Qwen2CausalLMOutput o = model.forward(new Qwen2CausalLMInput { InputIds = ids, LastPositionLogitsOnly = true });
                }, cuda, warmup: 2, runs: n > 8192 ? 3 : 5);
                result[$"prefill_{n}_tok_s"] = n / s;
            }

            var generator = new TokenGenerator(model);
            foreach (int batch in new[] { 1, 8 })
            {
                int steps = quick || !cuda ? 32 : 128;
                var random = new Random(batch);
                int[][] prompts = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, 1024).Select(_ => random.Next(151936)).ToArray()).ToArray();
                var options = new GenerationOptions { MaxNewTokens = steps };
                double total = Timed(() => generator.Generate(prompts, options), cuda, warmup: 1, runs: 3);
                using Tensor ids = tensor(prompts.SelectMany(p => p).Select(x => (long)x).ToArray(), [batch, 1024], device: device);
                double prefill = Timed(() =>
                {
                    using Qwen2CausalLMOutput o = model.forward(new Qwen2CausalLMInput { InputIds = ids, LastPositionLogitsOnly = true });
                }, cuda, warmup: 1, runs: 3);
                result[$"decode_b{batch}_tok_s"] = batch * steps / Math.Max(total - prefill, 1e-9);
            }

            model.Dispose();
            if (cuda)
            {
                torch.cuda.synchronize();
            }

            var tower = new SiglipVisionModel(SiglipVisionConfig.So400mPatch14_384, device, dtype);
            tower.eval();
            int images = cuda ? 64 : 4;
            using Tensor pixels = randn([images, 3, 384, 384], dtype: dtype, device: device);
            double v = Timed(() =>
            {
                using SiglipVisionOutput o = tower.forward(pixels);
            }, cuda, warmup: 2, runs: 5);
            result[$"siglip_b{images}_img_s"] = images / v;
        }

        Console.WriteLine(JsonSerializer.Serialize(result));
    }

    internal static double Timed(Action action, bool cuda, int warmup, int runs)
    {
        for (int i = 0; i < warmup; i++)
        {
            action();
        }

        Sync(cuda);
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            Sync(cuda);
            times.Add(sw.Elapsed.TotalSeconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    internal static void Sync(bool cuda)
    {
        if (cuda)
        {
            torch.cuda.synchronize();
        }
    }

    internal static string Inv(double x) => x.ToString("0.0", CultureInfo.InvariantCulture);
}
