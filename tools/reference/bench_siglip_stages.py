#!/usr/bin/env python3
"""SigLIP-so400m-384 stage timings in PyTorch eager (bf16, batch 64), next to `videolong-bench siglip-stages -`."""
import json
import time

import torch
from transformers import SiglipVisionConfig, SiglipVisionModel


def timed(fn, warmup=2, runs=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return sorted(out)[len(out) // 2] * 1000


cfg = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=384,
                         patch_size=14, attn_implementation="sdpa")
with torch.device("cuda"):
    m = SiglipVisionModel(cfg).to(torch.bfloat16).eval()
x = torch.randn(64, 3, 384, 384, device="cuda", dtype=torch.bfloat16)
vm = m.vision_model if hasattr(m, "vision_model") else m
res = {}
with torch.no_grad():
    res["embeddings_ms"] = timed(lambda: vm.embeddings(x))
    h = vm.embeddings(x)
    res["one_layer_ms"] = timed(lambda: vm.encoder.layers[0](h, None))
    res["forward_ms"] = timed(lambda: m(pixel_values=x))
    res["forward_all_hidden_ms"] = timed(lambda: m(pixel_values=x, output_hidden_states=True))
print(json.dumps(res))

q, k, v = (torch.randn(64, 729, 16, 72, device="cuda", dtype=torch.bfloat16).transpose(1, 2) for _ in range(3))
xx = torch.randn(64, 729, 1152, device="cuda", dtype=torch.bfloat16)
up = torch.randn(64, 729, 4304, device="cuda", dtype=torch.bfloat16)
fc1 = torch.nn.Linear(1152, 4304, device="cuda", dtype=torch.bfloat16)
ln = torch.nn.LayerNorm(1152, eps=1e-6, device="cuda", dtype=torch.bfloat16)
with torch.no_grad():
    parts = {"sdpa_ms": timed(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)),
             "linear_1152_4304_ms": timed(lambda: fc1(xx)),
             "gelu_tanh_ms": timed(lambda: torch.nn.functional.gelu(up, approximate="tanh")),
             "layernorm_ms": timed(lambda: ln(xx))}
print(json.dumps(parts))
