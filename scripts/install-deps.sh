#!/usr/bin/env bash
# Installs the system packages VideoLong needs on Debian 12 (idempotent; needs root or sudo).
#   ffmpeg          decoding and probing (ffmpeg/ffprobe CLIs driven from C#)
#   libvips-tools   the vips CLI, used only by samples/make-samples.sh (the library itself comes from NuGet)
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
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
