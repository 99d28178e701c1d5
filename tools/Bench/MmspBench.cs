using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Parallel;
using static TorchSharp.torch;

namespace VideoLong.Bench;

/// <summary>
/// videolong-bench mmsp: a sequence-parallel prefill (zigzag shards, ring attention; issue 8) of N random visual-token
/// embeddings through a randomly initialised Qwen2 (default Qwen2-0.5B-sized: hidden 896, 24 layers, 14 heads, 2 KV
/// heads, intermediate 4864) across the given devices, against the single-device prefill of the same model where it
/// fits (--no-single skips it). Reports time, tokens/s and peak memory per device (GPU: polled from nvidia-smi, which
/// numbers GPUs as CUDA does when CUDA_VISIBLE_DEVICES is unset; CPU: peak RSS of the process). Prints one JSON line.
/// </summary>
internal static class MmspBench
{
    public static void Run(string[] args)
    {
        string Opt(string name, string fallback)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        int Int(string name, int fallback) => int.Parse(Opt(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        bool cudaAvailable = cuda_is_available();
        Device[] devices = Opt("--devices", cudaAvailable ? "cuda:0,cuda:1" : "cpu,cpu").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => new Device(d)).ToArray();
        bool cuda = devices.Any(d => d.type == TorchSharp.DeviceType.CUDA);
        int hidden = Int("--hidden", 896);
        bool halfB = hidden == 896;
        int heads = Int("--heads", halfB ? 14 : Math.Max(1, hidden / 32));
        var config = new Qwen2Config
        {
            HiddenSize = hidden,
            NumHiddenLayers = Int("--layers", 24),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("--kv-heads", halfB ? 2 : Math.Max(1, heads / 2)),
            IntermediateSize = Int("--intermediate", halfB ? 4864 : 4 * hidden),
            VocabSize = Int("--vocab", 151936),
            MaxPositionEmbeddings = 1 << 22,
            RopeTheta = 1e6,
            TieWordEmbeddings = true,
        };
        int tokens = Int("--tokens", 512);
        ScalarType dtype = Opt("--dtype", cuda ? "bf16" : "fp32") switch
        {
            "bf16" => ScalarType.BFloat16,
            "fp16" => ScalarType.Float16,
            "fp32" => ScalarType.Float32,
            string other => throw new ArgumentException($"--dtype must be bf16, fp16 or fp32, got '{other}'."),
        };
        var options = new RingAttentionOptions
        {
            Kernel = Opt("--kernel", "fused") switch
            {
                "fused" => RingAttentionKernel.Fused,
                "explicit" => RingAttentionKernel.Explicit,
                string other => throw new ArgumentException($"--kernel must be fused or explicit, got '{other}'."),
            },
            QueryTile = Int("--query-tile", 4096),
            KeyTile = Int("--key-tile", 8192),
            Float32Scores = args.Contains("--fp32-scores"),
        };
        int runs = Int("--runs", 1);
        bool single = !args.Contains("--no-single");

        var result = new Dictionary<string, object>
        {
            ["devices"] = string.Join(",", devices.Select(d => d.ToString())),
            ["tokens"] = tokens,
            ["layers"] = config.NumHiddenLayers,
            ["hidden"] = hidden,
            ["heads"] = heads,
            ["kv_heads"] = config.NumKeyValueHeads,
            ["intermediate"] = config.IntermediateSize,
            ["dtype"] = dtype.ToString(),
            ["kernel"] = options.Kernel.ToString().ToLowerInvariant(),
            ["ulysses"] = Int("--ulysses", 1),
            ["query_tile"] = options.QueryTile,
            ["key_tile"] = options.KeyTile,
            ["fp32_scores"] = options.Float32Scores,
        };

        manual_seed(0);
        using var monitor = new GpuMemoryMonitor(cuda);
        using var model = new Qwen2ForCausalLM(config, devices[0], dtype);
        using var parallel = new SequenceParallelQwen2(model, devices) { UlyssesDegree = Int("--ulysses", 1) };
        using Tensor embeds = (randn([1, tokens, hidden], ScalarType.Float32, devices[0]) * 0.02).to(dtype);   // random visual tokens
        Sync(devices);
        result["weights_on_devices"] = monitor.Snapshot();

        // Warm-up on a short sequence (kernels, allocator), then the measured runs.
        int warm = Math.Min(tokens, 2 * devices.Length * 256);
        using (Tensor short_ = embeds.narrow(1, 0, warm))
        using (parallel.Prefill(short_, options: options))
        {
        }

        Sync(devices);
        monitor.Reset();
        Tensor? parallelLogits = null;
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            using SequenceParallelPrefill prefill = parallel.Prefill(embeds, options: options);
            Sync(devices);
            times.Add(sw.Elapsed.TotalSeconds);
            parallelLogits?.Dispose();
            parallelLogits = prefill.LastLogits.cpu();
        }

        int generate = Int("--generate", 0);
        if (generate > 0)
        {
            // Greedy tokens over the distributed KV cache (one sequence), after a prefill that keeps the cache.
            using SequenceParallelPrefill prefill = parallel.Prefill(embeds.narrow(0, 0, 1), options: options, keepKvCache: true);
            Sync(devices);
            result["kv_cache_memory_mib"] = monitor.Peaks(devices);
            using SequenceParallelDecoding decoding = parallel.StartDecoding(prefill);
            var sw = Stopwatch.StartNew();
            IReadOnlyList<long> generated = decoding.Greedy(generate);
            Sync(devices);
            result["decode_tokens"] = generated.Count;
            result["decode_tokens_per_s"] = generated.Count / sw.Elapsed.TotalSeconds;
        }

        double seconds = times.Min();
        result["sp_seconds"] = seconds;
        result["sp_tokens_per_s"] = tokens / seconds;
        result["sp_peak_memory_mib"] = monitor.Peaks(devices);

        if (single)
        {
            monitor.Reset();
            try
            {
                using (no_grad())
                {
                    using (Tensor short_ = embeds.narrow(1, 0, warm))
                    using (model.forward(new Qwen2CausalLMInput { InputsEmbeds = short_, LastPositionLogitsOnly = true }))
                    {
                    }

                    Sync(devices);
                    monitor.Reset();
                    var sw = Stopwatch.StartNew();
                    using Qwen2CausalLMOutput dense = model.forward(new Qwen2CausalLMInput { InputsEmbeds = embeds, LastPositionLogitsOnly = true });
                    Sync(devices);
                    double s = sw.Elapsed.TotalSeconds;
                    result["single_device"] = devices[0].ToString();
                    result["single_seconds"] = s;
                    result["single_tokens_per_s"] = tokens / s;
                    result["single_peak_memory_mib"] = monitor.Peaks([devices[0]]);
                    using Tensor denseLogits = dense.Logits.select(1, 0).to(ScalarType.Float32).cpu();
                    result["last_logits_max_abs_diff"] = (denseLogits - parallelLogits!).abs().max().item<float>();
                    result["last_logits_max_abs"] = denseLogits.abs().max().item<float>();
                }
            }
            catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or OutOfMemoryException or InvalidOperationException)
            {
                result["single_error"] = e.Message.Split('\n')[0];
            }
        }

        parallelLogits?.Dispose();
        Console.WriteLine($"sequence-parallel prefill of {tokens} tokens on {result["devices"]}: {seconds:0.000} s, {tokens / seconds:0} tokens/s");
        Console.WriteLine(JsonSerializer.Serialize(result));
    }

    private static void Sync(IEnumerable<Device> devices)
    {
        foreach (Device d in devices.Where(d => d.type == TorchSharp.DeviceType.CUDA).DistinctBy(d => d.index))
        {
            cuda.synchronize(d);
        }
    }

    /// <summary>Peak memory per GPU (nvidia-smi memory.used, polled every 100 ms), or this process's peak RSS on the CPU.</summary>
    private sealed class GpuMemoryMonitor : IDisposable
    {
        private readonly Dictionary<int, double> _peaks = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread? _thread;
        private string? _error;

        public GpuMemoryMonitor(bool enabled)
        {
            if (!enabled)
            {
                return;
            }

            _thread = new Thread(() =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Poll();
                    _stop.Token.WaitHandle.WaitOne(100);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Reset()
        {
            lock (_peaks)
            {
                _peaks.Clear();
            }

            Poll();
        }

        public Dictionary<string, double> Snapshot()
        {
            Poll();
            lock (_peaks)
            {
                return _peaks.ToDictionary(kv => $"gpu{kv.Key}", kv => kv.Value);
            }
        }

        public Dictionary<string, double> Peaks(IEnumerable<Device> devices)
        {
            if (_thread is null)
            {
                return new Dictionary<string, double> { ["cpu_peak_rss"] = Machine.PeakRssMiB() };
            }

            Poll();
            lock (_peaks)
            {
                var result = devices.Where(d => d.type == TorchSharp.DeviceType.CUDA).Select(d => (int)d.index).Distinct()
                    .ToDictionary(i => $"cuda:{i}", i => _peaks.GetValueOrDefault(i, double.NaN));
                if (_error is not null)
                {
                    result["nvidia_smi_failed"] = double.NaN;
                }

                return result;
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _thread?.Join();
            _stop.Dispose();
        }

        private void Poll()
        {
            if (_thread is null)
            {
                return;
            }

            try
            {
                using var process = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=index,memory.used --format=csv,noheader,nounits")
                {
                    RedirectStandardOutput = true,
                    UseShellExecute = false,
                })!;
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                lock (_peaks)
                {
                    foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    {
                        string[] parts = line.Split(',', StringSplitOptions.TrimEntries);
                        int index = int.Parse(parts[0], CultureInfo.InvariantCulture);
                        double used = double.Parse(parts[1], CultureInfo.InvariantCulture);
                        _peaks[index] = Math.Max(_peaks.GetValueOrDefault(index), used);
                    }
                }
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or FormatException or IndexOutOfRangeException or InvalidOperationException)
            {
                _error = e.Message;
            }
        }
    }
}
