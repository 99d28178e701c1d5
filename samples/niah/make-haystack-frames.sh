#!/usr/bin/env bash
# Makes the V-NIAH haystack as a compact frames folder, for a GPU host without ffmpeg: the first FRAMES seconds of
# samples/media/haystack_30min.mp4 sampled at 1 fps by `videolong frames`, SIZE×SIZE, re-encoded as JPEG (quality Q)
# with the manifest rewritten to match. The defaults (900 frames, 384², Q 70) make about 22 MB, small enough to travel
# with the GPU package; longer haystacks tile the encoded frames (recorded in the results' provenance).
# Usage: samples/niah/make-haystack-frames.sh [FRAMES=900] [SIZE=384] [Q=70] [OUT=samples/media/haystack_frames]
set -euo pipefail
cd "$(dirname "$0")/../.."
frames="${1:-900}"; size="${2:-384}"; quality="${3:-70}"; out="${4:-samples/media/haystack_frames}"
bin="${VIDEOLONG:-artifacts/bin/videolong}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bin" frames samples/media/haystack_30min.mp4 --fps 1 --end "$frames" --size "${size}x${size}" --resize stretch --out "$tmp/png"
mkdir -p "$tmp/jpg"
for png in "$tmp"/png/*.png; do
    name="$(basename "$png" .png)"
    vips jpegsave "$png" "$tmp/jpg/$name.jpg" --Q "$quality" --strip
done
python3 - "$tmp/png/manifest.json" "$tmp/jpg/manifest.json" <<'PY'
import json, sys
manifest = json.load(open(sys.argv[1]))
for frame in manifest["frames"]:
    frame["file"] = frame["file"][:-4] + ".jpg"
json.dump(manifest, open(sys.argv[2], "w"), indent=2)
PY
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp/jpg" "$out"
echo "$(ls "$out" | grep -c '\.jpg$') frames, $(du -sh "$out" | cut -f1) → $out" >&2
