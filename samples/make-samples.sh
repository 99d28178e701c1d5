#!/usr/bin/env bash
# Makes VideoLong's sample media from Debian packages (nothing large is committed):
#   vtest.avi        real CCTV footage, 768x576, 10 fps, 79.5 s         (opencv-doc, Apache-2.0)
#   tree.avi         real handheld footage, 320x240, 15 fps, 29.6 s     (opencv-doc)
#   oa4_launch.webm  NASA OA-4 Atlas V launch, VP8 640x360, 8.1 s       (renpy-demo; footage public domain)
#   relief.tif       Marble's SRTM shaded relief, level 3 stitched: 10800x5400  (marble-qt-data; public domain)
#   haystack_30min.mp4  30 minutes of looped real footage (vtest.avi), H.264 768x576 10 fps
#   relief_43200.tif    pyramidal, tiled, JPEG-compressed BigTIFF of 43200x43200 (relief replicated 4x8) with libvips
# Usage: samples/make-samples.sh [OUT_DIR]   (default: samples/media). Needs root for apt-get; idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/media}"
mkdir -p "$out"
cd "$out"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need ffmpeg || ! need vips; then
    echo "Installing ffmpeg and libvips-tools (apt-get)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg libvips-tools >/dev/null
fi

# Unpack the three packages without installing them (their media is all we need).
mkdir -p .debs .pkgs
if [ ! -f .pkgs/.done ]; then
    ( cd .debs
      if ! apt-get download opencv-doc renpy-demo marble-qt-data >/dev/null 2>&1; then
          apt-get update -qq
          apt-get download opencv-doc renpy-demo marble-qt-data >/dev/null
      fi )
    for deb in .debs/*.deb; do dpkg -x "$deb" .pkgs; done
    touch .pkgs/.done
fi

data=.pkgs/usr/share/doc/opencv-doc/examples/data
[ -f vtest.avi ] || cp "$data/vtest.avi" vtest.avi
[ -f tree.avi ] || cp "$data/tree.avi" tree.avi
[ -f oa4_launch.webm ] || cp "$(find .pkgs -name oa4_launch.webm | head -n 1)" oa4_launch.webm

# 10800x5400 relief: 8 rows x 16 columns of 675x675 tiles, row-major.
if [ ! -f relief.tif ]; then
    srtm="$(find .pkgs -type d -path '*maps/earth/srtm/3' | head -n 1)"
    tiles=()
    for row in $(seq 0 7); do
        for col in $(seq 0 15); do
            tiles+=("$srtm/$(printf '%06d' "$row")/$(printf '%06d_%06d' "$row" "$col").jpg")
        done
    done
    vips arrayjoin "${tiles[*]}" relief.tif[tile,compression=deflate] --across 16
fi

if [ ! -f haystack_30min.mp4 ]; then
    echo "Encoding the 30-minute haystack (about a minute on 2 cores)..." >&2
    ffmpeg -v error -y -stream_loop -1 -i vtest.avi -t 1800 -vf "scale=768:576,fps=10" \
        -c:v libx264 -preset ultrafast -crf 28 -g 100 -an haystack_30min.mp4
fi

if [ ! -f relief_43200.tif ]; then
    echo "Writing the 43200x43200 pyramidal BigTIFF (about a minute)..." >&2
    vips replicate relief.tif relief_rep.v 4 8
    vips tiffsave relief_rep.v relief_43200.tif --tile --tile-width 256 --tile-height 256 --pyramid \
        --compression jpeg --Q 85 --bigtiff
    rm -f relief_rep.v
fi

ls -l vtest.avi tree.avi oa4_launch.webm relief.tif haystack_30min.mp4 relief_43200.tif
