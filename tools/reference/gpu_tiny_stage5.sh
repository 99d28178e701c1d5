#!/usr/bin/env bash
# One device call (issue 7, stage 5): VideoLong-Tiny with the ImageNet ResNet18 tower continued from
# models/videolong-tiny (the resnet18-16tok ablation's weights) on the weak tasks, with V2PE strides 256/64/16 drawn
# per sample (train-stage5.json, first GPU) and without them (ablations/resnet18-stage5-no-v2pe.json, last GPU); then
#   - tiny-eval of the stage-5 model (held-out test split, 100 per task, needle at 64/128/256 frames);
#   - the V2PE-stride ablation of both models (needle at 64 and 640 = 10× the training length; strides 256, 64, 16);
#   - the NIAH harness with glyph-font number needles in the real-footage haystack: samples/niah/tiny-digits.json
#     (64..640 frames), tiny-digits-v2pe16.json (same, V2PE 16) and tiny-digits-10k.json (200..10,000 frames, V2PE 16).
# Run in the repository root on the GPU host after  tar xJf artifacts/gpu/videolong-gpu.tar.xz -C /tmp, carrying
# samples/media/haystack_frames64. Results (the stage-5 model, logs, tables, NIAH outputs) in $OUT/tiny-stage5.tar.*.
set -uo pipefail
T0=$(date +%s)
run=/tmp/videolong-gpu/run.sh
work=/tmp/tiny-stage5; results=$work/results
rm -rf "$work"; mkdir -p "$results"
stamp() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }
mapfile -t gpus < <(nvidia-smi -L 2>/dev/null | sed -n 's/^GPU \([0-9][0-9]*\):.*/\1/p'); [ "${#gpus[@]}" -gt 0 ] || gpus=(0)
first=${gpus[0]}; last=${gpus[$(( ${#gpus[@]} - 1 ))]}

CUDA_VISIBLE_DEVICES=$first timeout 400 $run videolong train --config models/videolong-tiny/train-stage5.json --out $work/stage5 > $results/train-stage5.log 2>&1 & a=$!
CUDA_VISIBLE_DEVICES=$last timeout 400 $run videolong train --config models/videolong-tiny/ablations/resnet18-stage5-no-v2pe.json --out $work/no-v2pe > $results/train-no-v2pe.log 2>&1 & b=$!
wait $a; stamp "stage5 exit $?"; tail -2 $results/train-stage5.log
wait $b; stamp "no-v2pe exit $?"; tail -2 $results/train-no-v2pe.log

A=$work/stage5/model; B=$work/no-v2pe/model
ev() { local gpu=$1 out=$2; shift 2; CUDA_VISIBLE_DEVICES=$gpu timeout 150 $run videolong tiny-eval --per-task 100 --device cuda "$@" > $results/$out.txt 2>&1 & }
ev $first eval-stage5 --model $A --needle-frames 64,128,256
for s in 256 64 16; do
    ev $last eval-stage5-v2pe$s --model $A --tasks needle --needle-frames 64,640 --v2pe-stride $s
    ev $last eval-no-v2pe-v2pe$s --model $B --tasks needle --needle-frames 64,640 --v2pe-stride $s
done
for c in tiny-digits tiny-digits-v2pe16 tiny-digits-10k; do
    CUDA_VISIBLE_DEVICES=$first timeout 170 $run videolong niah --config samples/niah/$c.json --model $A --device cuda --out $results/niah-$c > $results/niah-$c.log 2>&1 &
done
wait; stamp "evaluations done"
for f in $results/eval-*.txt; do echo "== $(basename $f)"; grep '^|' $f | tail -n +3; done
for c in tiny-digits tiny-digits-v2pe16 tiny-digits-10k; do echo "== $c"; tail -2 $results/niah-$c.log; grep -A16 '^| Depth' $results/niah-$c/summary.md; done
mkdir -p $results/model && cp $A/* $results/model/ && cp $work/stage5/train-log.txt $results/model/ 2>/dev/null; cp $work/no-v2pe/train-log.txt $results/train-log-no-v2pe.txt 2>/dev/null
( cd $results && tar cf $work/tiny-stage5.tar . ) && split -b 15m -d -a 2 $work/tiny-stage5.tar $OUT/tiny-stage5.tar.
ls -la $OUT; stamp done
