#!/usr/bin/env python3
"""PyTorch eager baseline for VideoLong's model benchmarks (run on the GPU host next to `videolong-bench models`).

Randomly initialised Qwen2-0.5B-sized LLM and SigLIP-so400m-384-sized tower, bf16, SDPA, transformers 5.17:
prefill tokens/s at 4k and 32k tokens, decode tokens/s at batch 1 and 8 (1,024-token context, KV cache, greedy),
vision-tower images/s at batch 64. Prints one JSON object. Usage: python3 tools/reference/bench_torch.py [--quick]
"""
import json
import sys
import time

import torch
import transformers
from transformers import Qwen2Config, Qwen2ForCausalLM, SiglipVisionConfig, SiglipVisionModel

QUICK = "--quick" in sys.argv
DEV = "cuda"
DT = torch.bfloat16


def timed(fn, warmup=2, runs=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def qwen2_05b():
    return Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, max_position_embeddings=131072, rms_norm_eps=1e-6, tie_word_embeddings=True,
                       attn_implementation="sdpa")


def main():
    torch.manual_seed(0)
    result = {"transformers": transformers.__version__, "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
    with torch.device(DEV):
        model = Qwen2ForCausalLM(qwen2_05b()).to(DT).eval()
    with torch.no_grad():
        for n in ([4096] if QUICK else [4096, 32768]):
            ids = torch.randint(0, 151936, (1, n), device=DEV)
            # logits_to_keep=1: only the last position's logits, as a generation prefill needs
            s = timed(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1), runs=3 if n > 8192 else 5)
            result[f"prefill_{n}_tok_s"] = n / s
        for batch in (1, 8):
            ids = torch.randint(0, 151936, (batch, 1024), device=DEV)
            steps = 32 if QUICK else 128

            def decode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, min_new_tokens=steps,
                               do_sample=False, use_cache=True, pad_token_id=0)
            total = timed(decode, warmup=1, runs=3)
            prefill = timed(lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1), warmup=1, runs=3)
            result[f"decode_b{batch}_tok_s"] = batch * steps / max(total - prefill, 1e-9)
    del model
    torch.cuda.empty_cache()
    vcfg = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=384,
                              patch_size=14, attn_implementation="sdpa")
    with torch.device(DEV):
        tower = SiglipVisionModel(vcfg).to(DT).eval()
    pixels = torch.randn(64, 3, 384, 384, device=DEV, dtype=DT)
    with torch.no_grad():
        s = timed(lambda: tower(pixel_values=pixels))
    result["siglip_b64_img_s"] = 64 / s
    print(json.dumps(result))


if __name__ == "__main__":
    main()
