#!/usr/bin/env bash
# Installs the system packages VideoLong needs on Debian 12 (idempotent; needs root or sudo).
#   ffmpeg          decoding and probing (ffmpeg/ffprobe CLIs driven from C#)
#   patchelf, g++, python3   the build's TorchSharp fix for Debian 12's libstdc++
#   libvips-tools   the vips CLI, used only by samples/make-samples.sh (the library itself comes from NuGet)
#   rabbitmq-server the broker of `videolong worker` and the RabbitMQ tests (started by scripts/rabbitmq.sh, not by apt)
#   libfontconfig1, fonts-dejavu-core   SkiaSharp's native library (NIAH heatmaps, text needles) finds fonts through fontconfig
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
# TorchSharp on Debian 12: the build patches libLibTorchSharp.so with patchelf, g++ and python3 (DEPENDENCIES.md §3.1)
command -v patchelf >/dev/null 2>&1 || missing+=(patchelf)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# RabbitMQ transport and its kill test (DEPENDENCIES.md §3.8); apt does not start it: scripts/rabbitmq.sh start
dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q "install ok installed" || missing+=(rabbitmq-server)
# SkiaSharp.NativeAssets.Linux links libfontconfig; without a font the heatmap's text and text needles come out empty
dpkg -s libfontconfig1 >/dev/null 2>&1 || missing+=(libfontconfig1)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if [ "${1:-}" = "--with-samples" ]; then
    command -v vips >/dev/null 2>&1 || missing+=(libvips-tools)
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing ${missing[*]} (apt-get)..." >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null 2>&1 || { echo "The .NET 10 SDK is required (dotnet not found on PATH)." >&2; exit 1; }
