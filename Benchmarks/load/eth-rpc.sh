#!/usr/bin/env bash
# Ethereum transactions signed per second through the JSON-RPC signer (`custos serve`,
# POST /v1/tenants/:tenant/eth, eth_signTransaction with the nonce left to Custos), against
# libsecp256k1's raw one-core recoverable signing rate measured in the same run. Server and
# wrk share the machine's cores; auth, the policy check, nonce assignment and the audit log
# (one fsync'd write per signing, holding the account's new nonce and the audit record) are on.
#
#   Benchmarks/load/eth-rpc.sh [seconds-per-run] [custos-binary]   (default 10; the release build)
#
# Prints the raw rate, then transactions/s with 1 account and with 16 accounts at 64
# connections, each with p50/p99. Needs wrk (Debian).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-10}"
CUSTOS="${2:-}"
command -v wrk >/dev/null || { echo "eth-rpc: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [ -z "$CUSTOS" ]; then
  echo "eth-rpc: building the release binary" >&2
  swift build -c release --product custos --scratch-path .build-release >&2
  CUSTOS=.build-release/release/custos
fi
(cd Benchmarks && swift build -c release --product RawEthereumSignRate >&2)
RAW=Benchmarks/.build/release/RawEthereumSignRate

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export CUSTOS_DATA_DIR="$WORK/data" CUSTOS_PASSPHRASE="eth-rpc-benchmark-passphrase"
"$CUSTOS" init --scrypt-log-n 12 >/dev/null
"$CUSTOS" tenant create bench >/dev/null
"$CUSTOS" eth chain --tenant bench --set 1337 >/dev/null
ADDRESSES=()
for i in $(seq 0 15); do
  "$CUSTOS" key generate --tenant bench --alias "wallet-$i" --scheme ecdsa-secp256k1-keccak256 --category ACCOUNTS >/dev/null
  ADDRESSES+=("$("$CUSTOS" eth account --tenant bench --account "wallet-$i" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')")
done
export CUSTOS_TOKEN="$("$CUSTOS" token create --tenant bench --role signer --ttl 2h --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bearer"])')"
export CUSTOS_TENANT=bench

CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning CUSTOS_AUDIT_CHECKPOINT_INTERVAL_SECONDS=60 \
  "$CUSTOS" serve >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err" >&2; exit 1; }

rate_of() { awk '/Requests\/sec/ {print $2}' "$1"; }
p_of() { awk -v q="$2" '$1 == q {print $2}' "$1"; }
# A run with any non-2xx answer, socket error or JSON-RPC error measured something else: stop.
check() {
  if grep -qE "Non-2xx|Socket errors" "$1" || ! grep -q "^rpc-errors 0$" "$1"; then
    echo "eth-rpc: $2 run had errors:" >&2; cat "$1" >&2; exit 1
  fi
}
run() {  # name, accounts (comma-separated)
  CUSTOS_ACCOUNTS="$2" wrk -t2 -c64 -d"${DURATION}s" --latency -s Benchmarks/load/eth-rpc.lua "$URL" >"$WORK/$1.txt"
  check "$WORK/$1.txt" "$1"
}

echo "eth-rpc: warm-up" >&2
CUSTOS_ACCOUNTS="$(IFS=,; echo "${ADDRESSES[*]}")" wrk -t2 -c64 -d3s -s Benchmarks/load/eth-rpc.lua "$URL" >/dev/null
RAW1="$($RAW 5)"
run one "${ADDRESSES[0]}"
run sixteen "$(IFS=,; echo "${ADDRESSES[*]}")"
RAW2="$($RAW 5)"

python3 - "$RAW1" "$RAW2" "$(rate_of "$WORK/one.txt")" "$(rate_of "$WORK/sixteen.txt")" \
  "$(p_of "$WORK/one.txt" 50%)" "$(p_of "$WORK/one.txt" 99%)" "$(p_of "$WORK/sixteen.txt" 50%)" "$(p_of "$WORK/sixteen.txt" 99%)" <<'PY'
import sys
raw1, raw2, one, sixteen = map(float, sys.argv[1:5])
p50a, p99a, p50b, p99b = sys.argv[5:9]
raw = (raw1 + raw2) / 2
print(f"raw recoverable secp256k1 sign, one core (libsecp256k1): {raw:,.0f}/s  (before {raw1:,.0f}, after {raw2:,.0f})")
print(f"eth_signTransaction, 1 account,   64 connections: {one:,.0f} tx/s = {one / raw:.1%} of raw  p50 {p50a}  p99 {p99a}")
print(f"eth_signTransaction, 16 accounts, 64 connections: {sixteen:,.0f} tx/s = {sixteen / raw:.1%} of raw  p50 {p50b}  p99 {p99b}")
PY
