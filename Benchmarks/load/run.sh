#!/usr/bin/env bash
# Load benchmark of `custos serve` on loopback, against the library's raw one-core
# Ed25519 signing rate measured in the same run. Server and wrk share the machine's
# cores; auth (bearer token) and audit (group-committed, fsync'd) are on.
#
#   Benchmarks/load/run.sh [seconds-per-run]      (default 15)
#
# Prints: raw one-core rate; single-signature requests/s at 64 connections; batch
# (100 signatures per request) signatures/s; p50/p99 latency at about half the peak
# single-signature rate (wrk with random per-connection think time). Needs wrk (Debian).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-15}"
command -v wrk >/dev/null || { echo "load: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

echo "load: building release binaries" >&2
swift build -c release --product custos --scratch-path .build-release >&2
(cd Benchmarks && swift build -c release --product RawSignRate >&2)
CUSTOS=.build-release/release/custos
RAW=Benchmarks/.build/release/RawSignRate

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export CUSTOS_DATA_DIR="$WORK/data" CUSTOS_PASSPHRASE="load-benchmark-passphrase"
$CUSTOS init --scrypt-log-n 12 >/dev/null
$CUSTOS tenant create bench >/dev/null
$CUSTOS key generate --tenant bench --alias hot --scheme ed25519 >/dev/null
export CUSTOS_TOKEN="$($CUSTOS token create --tenant bench --role signer --ttl 2h --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bearer"])')"
export CUSTOS_TENANT=bench CUSTOS_KEY=hot

CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning CUSTOS_AUDIT_CHECKPOINT_INTERVAL_SECONDS=60 \
  $CUSTOS serve >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err" >&2; exit 1; }

rate_of() { awk '/Requests\/sec/ {print $2}' "$1"; }
# A run with any non-2xx answer or socket error measured something else: stop.
check() {
  if grep -qE "Non-2xx|Socket errors" "$1"; then echo "load: $2 run had errors:" >&2; cat "$1" >&2; exit 1; fi
}
p_of() { awk -v q="$2" '$1 == q {print $2}' "$1"; }

echo "load: warm-up" >&2
wrk -t2 -c64 -d3s -s Benchmarks/load/sign.lua "$URL" >/dev/null

RAW1="$($RAW 5)"
wrk -t2 -c64 -d"${DURATION}s" --latency -s Benchmarks/load/sign.lua "$URL" >"$WORK/single.txt"
check "$WORK/single.txt" single
SINGLE="$(rate_of "$WORK/single.txt")"
wrk -t2 -c64 -d"${DURATION}s" --latency -s Benchmarks/load/batch.lua "$URL" >"$WORK/batch.txt"
check "$WORK/batch.txt" batch
BATCH_REQ="$(rate_of "$WORK/batch.txt")"
# Half the peak: 64 connections, each with a random think time between requests
# (mean `delay` ms). A closed loop runs at 64 / (think + latency); a short pass
# measures the latency at that load, then the think time is set to land on half.
TARGET="$(python3 -c "print($SINGLE / 2)")"
DELAY_MS="$(python3 -c "print(max(1, round(64 / $TARGET * 1000)))")"
CUSTOS_DELAY_MS="$DELAY_MS" wrk -t2 -c64 -d5s -s Benchmarks/load/sign.lua "$URL" >"$WORK/calibrate.txt"
check "$WORK/calibrate.txt" calibration
DELAY_MS="$(python3 -c "
rate = $(rate_of "$WORK/calibrate.txt")
latency_ms = 64 / rate * 1000 - $DELAY_MS
print(max(1, round(64 / $TARGET * 1000 - latency_ms)))")"
CUSTOS_DELAY_MS="$DELAY_MS" wrk -t2 -c64 -d"${DURATION}s" --latency -s Benchmarks/load/sign.lua "$URL" >"$WORK/half.txt"
check "$WORK/half.txt" half-load
HALF="$(rate_of "$WORK/half.txt")"
RAW2="$($RAW 5)"

python3 - "$RAW1" "$RAW2" "$SINGLE" "$BATCH_REQ" "$HALF" "$DELAY_MS" "$WORK" <<'PY'
import sys
raw1, raw2, single, batch_req, half = map(float, sys.argv[1:6])
delay, work = sys.argv[6], sys.argv[7]
raw = (raw1 + raw2) / 2
def latency(name):
    out = {}
    for line in open(f"{work}/{name}.txt"):
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            out[parts[0]] = parts[1]
    return out
print(f"raw Ed25519 sign, one core (swift-crypto): {raw:,.0f}/s  (before {raw1:,.0f}, after {raw2:,.0f})")
print(f"single-signature requests, 64 connections: {single:,.0f}/s = {single / raw:.0%} of raw  p50 {latency('single')['50%']}  p99 {latency('single')['99%']}")
print(f"batch requests of 100, 64 connections:     {batch_req:,.0f}/s = {batch_req * 100:,.0f} signatures/s = {batch_req * 100 / raw:.0%} of raw  p99 {latency('batch')['99%']}")
print(f"at ~half the single peak ({half:,.0f}/s = {half / single:.0%} of it, mean think time {delay} ms): p50 {latency('half')['50%']}  p90 {latency('half')['90%']}  p99 {latency('half')['99%']}")
PY
