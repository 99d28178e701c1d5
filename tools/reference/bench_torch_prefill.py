#!/usr/bin/env python3
"""PyTorch eager prefill of long embedding sequences with the Qwen2-0.5B-sized LLM (bf16, SDPA), next to
`videolong-bench vlm`. Usage: python3 tools/reference/bench_torch_prefill.py N [N ...]   (sequence lengths)"""
import json
import sys
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, max_position_embeddings=524288, tie_word_embeddings=True, attn_implementation="sdpa")
torch.manual_seed(0)
with torch.device("cuda"):
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16).eval()
out = {"torch": torch.__version__}
with torch.no_grad():
    for n in map(int, sys.argv[1:]):
        x = torch.randn(1, n, 896, device="cuda", dtype=torch.bfloat16)
        runs = 1 if n > 200_000 else 3
        if runs > 1:
            model(inputs_embeds=x, use_cache=False, logits_to_keep=1)
        torch.cuda.synchronize()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(inputs_embeds=x, use_cache=False, logits_to_keep=1)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out[f"prefill_{n}_s"] = sorted(times)[len(times) // 2]
        out[f"peak_mem_{n}_gib"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
print(json.dumps(out))
