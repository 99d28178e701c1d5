// Fused attention of one query block against one key/value block that also returns the per-row log-sum-exp of the
// scores, which is what a ring step needs to merge its result into the running output (the merge of two partial
// softmaxes: lse = log(e^lse₁ + e^lse₂), out = out₁·e^(lse₁−lse) + out₂·e^(lse₂−lse)). TorchSharp's SDPA returns only
// the output, so the ATen kernels that also return the log-sum-exp are called through a small TorchScript unit compiled
// once at run time: FlashAttention-2 on CUDA for 16-bit inputs, the memory-efficient kernel on CUDA otherwise, and
// ATen's flash kernel for the CPU. All three run causal masking inside the kernel (top-left aligned, as SDPA's
// is_causal) and never materialise the score matrix.
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>Fused block attention returning the output and the log-sum-exp of each query row.</summary>
public static class BlockAttention
{
    // The kernels' schemas (ATen native_functions.yaml, PyTorch 2.x): flash returns (output, logsumexp, cum_seq_q,
    // cum_seq_k, max_q, max_k, philox_seed, philox_offset, debug_attn_mask); efficient returns (output, logsumexp,
    // philox_seed, philox_offset) with logsumexp padded to a multiple of 32 rows; the CPU flash returns (output, logsumexp).
    private const string Script = """
        def flash_cuda(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float):
            r = torch._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False, scale=scale)
            return r[0], r[1]

        def efficient_cuda(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float):
            r = torch._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, causal, scale=scale)
            return r[0], r[1]

        def flash_cpu(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float):
            r = torch._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, scale=scale)
            return r[0], r[1]
        """;

    private static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script + "\n"), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// softmax(q·kᵀ·scale [+ causal mask]) · v for q [B, H, Lq, D], k and v [B, H, Lk, D] (same heads, same device, same
    /// dtype): the output [B, H, Lq, D] in the input dtype and the log-sum-exp of the scaled scores [B, H, Lq] in fp32.
    /// With <paramref name="causal"/>, row i sees keys 0..i (top-left aligned); every row must see at least one key.
    /// </summary>
    public static (Tensor Output, Tensor LogSumExp) Compute(Tensor q, Tensor k, Tensor v, bool causal, double scale)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        if (q.ndim != 4 || k.ndim != 4 || v.ndim != 4 || q.shape[0] != k.shape[0] || q.shape[1] != k.shape[1] || q.shape[3] != k.shape[3]
            || !k.shape.SequenceEqual(v.shape) || q.dtype != k.dtype || q.dtype != v.dtype)
        {
            throw new SequenceParallelException(
                $"Block attention takes q [B, H, Lq, D] and k, v [B, H, Lk, D] of one dtype; got q [{string.Join(", ", q.shape)}] {q.dtype}, " +
                $"k [{string.Join(", ", k.shape)}] {k.dtype}, v [{string.Join(", ", v.shape)}] {v.dtype}.");
        }

        string kernel = KernelFor(q.device, q.dtype, q.shape[3]);
        object result = Unit.Value.invoke(kernel, q, k, v, causal, scale);
        if (result is not ITuple { Length: 2 } pair || pair[0] is not Tensor output || pair[1] is not Tensor lse)
        {
            throw new InvalidOperationException($"The {kernel} attention kernel returned {result?.GetType().Name ?? "nothing"}, not (output, logsumexp).");
        }

        long rows = q.shape[2];
        if (lse.shape[2] != rows)
        {
            using Tensor padded = lse;
            lse = padded.narrow(2, 0, rows).contiguous();                     // the efficient kernel pads rows to a multiple of 32
        }

        if (lse.dtype != ScalarType.Float32)
        {
            using Tensor other = lse;
            lse = other.to(ScalarType.Float32);
        }

        return (output, lse);
    }

    /// <summary>The kernel that serves inputs on <paramref name="device"/> of <paramref name="dtype"/> with head size <paramref name="dim"/>.</summary>
    internal static string KernelFor(Device device, ScalarType dtype, long dim) => device.type switch
    {
        DeviceType.CPU => "flash_cpu",
        DeviceType.CUDA when (dtype is ScalarType.BFloat16 or ScalarType.Float16) && dim % 8 == 0 && dim <= 256 => "flash_cuda",
        DeviceType.CUDA => "efficient_cuda",
        _ => throw new SequenceParallelException($"Fused block attention runs on CPU or CUDA devices, not {device}."),
    };
}
