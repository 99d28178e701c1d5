#!/usr/bin/env bash
# One device call (issue 7, stage 4): three VideoLong-Tiny trainings at once, then their evaluations at once.
#   - models/videolong-tiny/history/train-stage4.json: continues the shipped model (init_from), reading-weighted task_weights,
#     batch 192, V2PE strides 256/64/16 drawn per sample;
#   - models/videolong-tiny/ablations/scratch-16tok.json and scratch-64tok.json: from scratch, identical but for
#     model.tokens_per_frame (the 16-vs-64 tokens-per-frame ablation);
#   - EXTRA_RUNS="a.json b.json" (or comma-separated): more configs trained and evaluated alongside, e.g.
#     models/videolong-tiny/history/train-stage4-footage.json (stage 4 with 30 % of the samples on real footage: carry
#     samples/media/footage_frames64 (samples/make-footage-frames.sh), frames of tree.avi and oa4_launch.webm — not vtest.avi, the NIAH haystack's source;
#     its evaluation adds the same tasks on footage) and models/videolong-tiny/ablations/resnet18-16tok.json (carry
#     artifacts/resnet18-imagenet-layer3.safetensors from `videolong resnet18-export --dtype bf16`).
# The stage-4 runs train on the first GPU of `nvidia-smi -L`, the ablations on the last (CUDA_VISIBLE_DEVICES).
# Then tiny-eval (100 per task, needle at 64/128/256 frames) of every model and the V2PE-stride ablation of the stage-4
# model (needle at 64 and 640 = 10x the training length, strides 256, 64, 16), all at once, each cut at the deadline.
# Everything (model folders without the checkpoints, logs, curves, eval tables) goes into one tar, split into parts of
# 15 MiB because the device tool brings back files of at most 16 MiB:  cat tiny-stage4.tar.* > tiny-stage4.tar
#
# Run in the repository root on the GPU host after  tar xJf artifacts/gpu/videolong-gpu.tar.xz -C /tmp
# (bash scripts/pack-gpu.sh --slim here first; carry artifacts/gpu/videolong-gpu.tar.xz). The whole script ends within
# BUDGET_SECONDS (default 560, under the tool's 600 s). TRAIN_SECONDS overrides every config's time_limit_seconds.
set -uo pipefail
T0=$(date +%s)
BUDGET=${BUDGET_SECONDS:-560}
run=${VIDEOLONG_RUN:-/tmp/videolong-gpu/run.sh}   # overridable for a dry run
work=${WORK_DIR:-/tmp/tiny-stage4}
results=$work/results
rm -rf "$work"; mkdir -p "$results" "$work/configs" "$work/runs"
stamp() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }
left() { local s=$(( T0 + BUDGET - $1 - $(date +%s) )); [ "$s" -gt 10 ] || s=10; echo "$s"; }   # seconds to the deadline minus a reserve (≥ 10)

mapfile -t gpus < <(nvidia-smi -L 2>/dev/null | sed -n 's/^GPU \([0-9][0-9]*\):.*/\1/p')
[ "${#gpus[@]}" -gt 0 ] || gpus=(0)
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader > "$results/gpu.txt" 2>&1
stamp "GPUs: ${gpus[*]}"
next_gpu=0
pick_gpu() { g=${gpus[$(( next_gpu % ${#gpus[@]} ))]}; next_gpu=$(( next_gpu + 1 )); }   # sets g (no subshell: the counter must advance)

configs=(models/videolong-tiny/history/train-stage4.json models/videolong-tiny/ablations/scratch-16tok.json models/videolong-tiny/ablations/scratch-64tok.json)
extras=${EXTRA_RUNS:-}
for extra in ${extras//,/ }; do configs+=("$extra"); done

# --- trainings, concurrently ---------------------------------------------------------------------------------------
names=(); pids=()
for cfg in "${configs[@]}"; do
    name=$(basename "$cfg" .json)
    if [ ! -f "$cfg" ]; then stamp "missing config $cfg, skipped"; continue; fi
    used="$work/configs/$name.json"
    if [ -n "${TRAIN_SECONDS:-}" ]; then
        python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["time_limit_seconds"]=float(sys.argv[2]); json.dump(c,open(sys.argv[3],"w"),indent=2)' \
            "$cfg" "$TRAIN_SECONDS" "$used"
    else
        cp "$cfg" "$used"
    fi
    # The stage-4 runs (the model to ship) share the first GPU; the from-scratch ablations share the last, so they are
    # compared under the same conditions (one GPU: all share it).
    case "$name" in train-stage4*) g=${gpus[0]} ;; *) g=${gpus[$(( ${#gpus[@]} - 1 ))]} ;; esac
    # Hard stop 100 s before the deadline (the evaluations need that); the time limits in the configs end well before.
    CUDA_VISIBLE_DEVICES=$g timeout "$(left 100)" $run videolong train --config "$used" --out "$work/runs/$name" > "$results/train-$name.log" 2>&1 &
    pids+=($!); names+=("$name")
    stamp "training $name on GPU $g (pid $!)"
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; rc=$?
    stamp "training ${names[$i]} ended, exit $rc"
    grep -E "shrinks|moves|tokens per frame|task shares" "$results/train-${names[$i]}.log" | head -4
    tail -2 "$results/train-${names[$i]}.log"
done

# --- evaluations, concurrently ------------------------------------------------------------------------------------
eval_pids=(); eval_names=()
evaluate() {   # NAME-OF-RESULT MODEL-DIR ARGS...
    local out=$1 dir=$2; shift 2
    pick_gpu
    CUDA_VISIBLE_DEVICES=$g timeout "$(left 20)" $run videolong tiny-eval --model "$dir" --per-task 100 --device cuda "$@" > "$results/$out.txt" 2>&1 &
    eval_pids+=($!); eval_names+=("$out")
    stamp "evaluating $out on GPU $g: $*"
}
for name in "${names[@]}"; do
    dir="$work/runs/$name/model"
    if [ ! -f "$dir/model.safetensors" ]; then stamp "$name wrote no model, not evaluated"; continue; fi
    evaluate "eval-$name" "$dir" --needle-frames 64,128,256
    footage=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("backgrounds") or "")' "$work/configs/$name.json" 2>/dev/null)
    if [ -n "$footage" ] && [ -d "$footage" ]; then
        evaluate "eval-$name-footage" "$dir" --needle-frames 64 --backgrounds "$footage"
    fi
    if [ "$name" = train-stage4 ]; then
        for stride in 256 64 16; do
            evaluate "eval-$name-v2pe$stride" "$dir" --tasks needle --needle-frames 64,640 --v2pe-stride "$stride"
        done
    fi
done
for i in "${!eval_pids[@]}"; do
    wait "${eval_pids[$i]}"; rc=$?
    stamp "${eval_names[$i]} ended, exit $rc"
    grep -v '^|' "$results/${eval_names[$i]}.txt" | tail -14
done

# --- results: one tar (model folders without checkpoints, logs, curves, tables), in parts of 15 MiB -------------------
for name in "${names[@]}"; do
    mkdir -p "$results/$name"
    cp "$work/runs/$name/train-log.txt" "$results/$name/" 2>/dev/null
    [ -d "$work/runs/$name/model" ] && cp "$work/runs/$name/model/"* "$results/$name/" 2>/dev/null
done
# Texts first, then the models in config order: if the parts exceed what comes back (64 MiB), the last ones are dropped.
( cd "$results" && tar cf "$work/tiny-stage4.tar" --exclude='*.safetensors' . && for name in "${names[@]}"; do
      [ -f "$name/model.safetensors" ] && tar rf "$work/tiny-stage4.tar" "$name/model.safetensors"; done )
mkdir -p "${OUT:-/tmp/out}"
split -b 15m -d -a 2 "$work/tiny-stage4.tar" "${OUT:-/tmp/out}/tiny-stage4.tar."
parts=$(ls "${OUT:-/tmp/out}"/tiny-stage4.tar.* | wc -l)
if [ "$parts" -gt 4 ]; then
    stamp "the archive needs $parts parts; only the first 4 (60 MiB) come back: later models' weights are lost"
    ls "${OUT:-/tmp/out}"/tiny-stage4.tar.* | tail -n +5 | xargs rm -f
fi
ls -la "${OUT:-/tmp/out}"
for f in "$results"/eval-*.txt; do echo "== $(basename "$f")"; grep '^|' "$f"; done
stamp "done (reassemble: cat tiny-stage4.tar.* > tiny-stage4.tar)"
