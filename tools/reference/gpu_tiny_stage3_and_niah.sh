#!/usr/bin/env bash
# One device call (issue 6 + 7): continue VideoLong-Tiny for ~5 minutes (train-stage3.json, from the shipped weights),
# evaluate it on the held-out split, then run the LongVA NIAH grid with it until the time budget ends (results are
# written after every haystack length). Run in the repository root on the GPU host after
#   tar xJf artifacts/gpu/videolong-gpu.tar.xz -C /tmp
# with samples/media/haystack_frames64 carried (samples/niah/make-haystack-frames.sh 1200 64 80 samples/media/haystack_frames64;
# bash scripts/pack-gpu.sh --slim, so that both fit the 64 MiB a call carries).
set -uo pipefail
run=/tmp/videolong-gpu/run.sh
timer=""; [ -x /usr/bin/time ] && timer="/usr/bin/time -v"
out=/tmp/gpu-results   # packed into $OUT/results.tar at the end ($OUT brings back at most 8 files)
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/gpu.txt"
$timer $run videolong train --config models/videolong-tiny/history/train-stage3.json --out /tmp/stage3 > "$out/train-stage3.log" 2>&1
tail -5 "$out/train-stage3.log"
mkdir -p "$out/model" && cp /tmp/stage3/model/* "$out/model/" 2>/dev/null
$run videolong tiny-eval --model /tmp/stage3/model --per-task 100 --needle-frames 64,128,256 --device cuda > "$out/eval-stage3.txt" 2>&1
cat "$out/eval-stage3.txt"
timeout "${NIAH_SECONDS:-170}" $timer $run videolong niah --config samples/niah/longva-tiny.json --model /tmp/stage3/model \
    --device cuda --out "$out/niah-longva" --data /tmp/niah-data > "$out/niah-longva.log" 2>&1
echo "niah exit $?"
tail -20 "$out/niah-longva.log"
tar cf "${OUT:-/tmp}/results.tar" -C "$out" .
