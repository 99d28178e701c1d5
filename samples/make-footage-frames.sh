#!/usr/bin/env bash
# Real-footage backgrounds for VideoLong-Tiny training (`backgrounds` in a training config, e.g.
# models/videolong-tiny/history/train-stage4-footage.json): every frame of tree.avi and oa4_launch.webm at 15 fps,
# 64×64 (stretched), JPEG quality 85, in one folder, file names keeping each clip's frames in order (about 2.3 MB).
# vtest.avi is left out on purpose: it is the NIAH haystack's source. Needs samples/make-samples.sh's media and vips.
# Usage: samples/make-footage-frames.sh [OUT=samples/media/footage_frames64]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-samples/media/footage_frames64}"
bin="${VIDEOLONG:-artifacts/bin/videolong}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out" && mkdir -p "$out"
for clip in tree:samples/media/tree.avi launch:samples/media/oa4_launch.webm; do
    name="${clip%%:*}"; file="${clip#*:}"
    "$bin" frames "$file" --fps 15 --size 64x64 --resize stretch --out "$tmp/$name"
    for png in "$tmp/$name"/*.png; do
        vips jpegsave "$png" "$out/${name}_$(basename "$png" .png).jpg" --Q 85 --strip
    done
done
echo "$(ls "$out" | grep -c '\.jpg$') frames, $(du -sh "$out" | cut -f1) → $out" >&2
