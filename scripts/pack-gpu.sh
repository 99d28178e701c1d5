#!/usr/bin/env bash
# Packs a self-contained linux-x64 build of `videolong` and `videolong-bench` for a GPU host that has no .NET and runs
# on that host's own CUDA libtorch (e.g. a PyTorch install's torch/lib): no libtorch-cpu natives are bundled, only
# TorchSharp's libLibTorchSharp.so. Output: artifacts/gpu/videolong-gpu.tar.xz (xz: about 40 MiB; gzip made 62 MB, too
# close to the 64 MiB a device call carries) with run.sh inside.
# On the host:  tar xJf videolong-gpu.tar.xz && ./videolong-gpu/run.sh videolong doctor
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=artifacts/gpu/videolong-gpu
rm -rf "$out" && mkdir -p "$out"
for project in src/Pipeline/VideoLong.Pipeline.csproj tools/Bench/VideoLong.Bench.csproj; do
    # Configuration "Gpu" (optimised) keeps these builds apart from the CPU Release builds in bin/Release.
    dotnet publish "$project" -c Gpu -p:Optimize=true -r linux-x64 --self-contained true -o "$out/bin" --nologo -v quiet \
        -p:VideoLongCpuLibtorch=false -p:InvariantGlobalization=true
done
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs a VideoLong program against the host's PyTorch libtorch (CUDA): run.sh videolong|videolong-bench ARGS...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
site="$(dirname "$(dirname "$torch_lib")")"
nvidia_libs="$(ls -d "$site"/nvidia/*/lib "$site"/nvidia/cu*/lib 2>/dev/null | tr '\n' ':' || true)"
export LD_LIBRARY_PATH="$torch_lib:${nvidia_libs}${LD_LIBRARY_PATH:-}"
export VIDEOLONG_TORCH_VERSION="$(python3 -c 'import torch; print(torch.__version__)')"
program="$1"; shift
exec "$here/bin/$program" "$@"
RUN
chmod +x "$out/run.sh"
rm -f artifacts/gpu/videolong-gpu.tar.gz
# --slim leaves out the HTTP server (Microsoft.AspNetCore.*: `serve` will not run) and the debugger's libraries: 43 MB
# instead of 52 MB, room for a haystack frames folder in the same device call.
exclude=()
if [ "${1:-}" = "--slim" ]; then
    exclude=(--exclude='videolong-gpu/bin/Microsoft.AspNetCore.*' --exclude='videolong-gpu/bin/libmscordaccore.so'
             --exclude='videolong-gpu/bin/libmscordbi.so' --exclude='videolong-gpu/bin/createdump' --exclude='videolong-gpu/bin/*.pdb')
fi
tar cf - -C artifacts/gpu "${exclude[@]}" videolong-gpu | xz -T0 -6 > artifacts/gpu/videolong-gpu.tar.xz
ls -la artifacts/gpu/videolong-gpu.tar.xz
