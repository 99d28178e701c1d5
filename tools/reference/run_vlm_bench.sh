#!/usr/bin/env bash
# On the GPU host, in the repository root, after `tar xJf artifacts/gpu/videolong-gpu.tar.xz -C /tmp`:
#   bash tools/reference/run_vlm_bench.sh   (prints one JSON line per scenario with peak GPU memory from nvidia-smi)
R=/tmp/videolong-gpu/run.sh
for args in "--frames 512" "--frames 2048" "--frames 10000" "--frames 512 --no-merge"; do
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/mem.txt & sampler=$!
    out=$(timeout 240 "$R" videolong-bench vlm - $args 2>&1 | tail -1)
    kill "$sampler"; wait "$sampler" 2>/dev/null
    echo "$out peak_gpu_mem_mib=$(sort -n /tmp/mem.txt | tail -1)"
done
# PyTorch eager prefill of the same sequence lengths (16 tokens/frame + 1 newline + 64 text tokens; 729/frame for 512)
timeout 200 python3 tools/reference/bench_torch_prefill.py 8257 32833 160065 373313
