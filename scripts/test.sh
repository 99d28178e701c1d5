#!/usr/bin/env bash
# Runs every test of the solution and prints one line "N passed, N failed[, N skipped]".
# Exits non-zero when a test fails or nothing ran. Extra arguments go to `dotnet test` (e.g. --filter Category!=Slow).
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
bash scripts/install-deps.sh || exit 1
# The RabbitMQ tests (Category=RabbitMQ) need a broker on 127.0.0.1:5672: start it unless one already answers, and
# stop it afterwards only when this script started it.
started_rabbitmq=0
if ! bash scripts/rabbitmq.sh status 2>/dev/null; then
    if bash scripts/rabbitmq.sh start; then started_rabbitmq=1; else echo "test.sh: RabbitMQ did not start; its tests will skip (or fail under CI=true)" >&2; fi
fi
stop_rabbitmq() { if [ "$started_rabbitmq" -eq 1 ]; then bash scripts/rabbitmq.sh stop || true; fi; }
trap stop_rabbitmq EXIT
results="artifacts/test-results"
rm -rf "$results"
dotnet build VideoLong.sln -c Release --nologo -v quiet || { echo "0 passed, 1 failed (build failed)"; exit 1; }
dotnet test VideoLong.sln -c Release --no-build --nologo --logger "trx" --results-directory "$results" "$@"
status=$?
passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
    [ -f "$trx" ] || continue
    files=$((files + 1))
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
    get() { printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$files" -eq 0 ] || [ "$passed" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
if [ "$failed" -ne 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
exit 0
