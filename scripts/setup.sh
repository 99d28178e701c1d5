#!/usr/bin/env bash
# Sets VideoLong up on a fresh Debian 12 machine: system packages, sample media, and the `videolong` tool in artifacts/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
bash scripts/install-deps.sh --with-samples
bash samples/make-samples.sh
dotnet publish src/Pipeline/VideoLong.Pipeline.csproj -c Release -o artifacts/bin --nologo -v quiet
echo "videolong is at artifacts/bin/videolong" >&2
