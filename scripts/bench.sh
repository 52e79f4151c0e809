#!/usr/bin/env bash
# Runs the library benchmarks, each beside its baseline in the same run,
# and summarises them with benchstat. Raw results go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${COUNT:-10}"
benchstat="go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"
out=bench/out
mkdir -p "$out"

echo "== aside hit path beside raw rueidis and raw otter (count $count)" >&2
go test -run '^$' -bench . -count "$count" . | tee "$out/library.txt" >/dev/null
$benchstat "$out/library.txt"

echo "== aside memstore beside go-redis/cache's local cache (count $count)" >&2
(cd bench/peers && go test -run '^$' -bench . -count "$count") | tee "$out/peers.txt" >/dev/null
$benchstat "$out/peers.txt"
