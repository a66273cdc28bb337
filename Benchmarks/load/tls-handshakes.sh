#!/usr/bin/env bash
# Full TLS 1.3 handshakes per second (P-384, no resumption) on two `custos serve`
# processes from one release binary: one with its key in a PEM file (signed inside
# BoringSSL), one with `tls.key` (signed by the keystore's key object through NIOSSL's
# custom-key hook, after asking the keystore whether the key is still usable). Driven
# by `openssl s_time -new` in alternating A B B A runs; prints each side's rate and the
# ratio keystore / PEM.
#
#   Benchmarks/load/tls-handshakes.sh [seconds-per-run]      (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-10}"

echo "tls-handshakes: building the release binary" >&2
swift build -c release --product custos --scratch-path .build-release >&2
CUSTOS=.build-release/release/custos

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
export CUSTOS_DATA_DIR="$WORK/data" CUSTOS_PASSPHRASE="tls-benchmark-passphrase"
$CUSTOS init --scrypt-log-n 12 >/dev/null
$CUSTOS tenant create bench >/dev/null
$CUSTOS tls ca create --tenant bench --alias ca --subject "CN=Bench CA" >/dev/null
$CUSTOS tls issue --tenant bench --alias web --issuer ca --subject "CN=custos" --ip 127.0.0.1 --usage server >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 2 -subj /CN=custos \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/pem.key" -out "$WORK/pem.crt" 2>/dev/null
chmod 600 "$WORK/pem.key"

# serve NAME VAR=VALUE…: a server on a free loopback port (not in a subshell, so that its
# PID reaches the cleanup); sets PORT.
serve() {
  local name="$1"; shift
  env "$@" CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning $CUSTOS serve >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  PORT="$(grep -o 'https://[0-9.:]*' "$WORK/$name.out" | head -1 | sed 's/.*://')"
  [ -n "$PORT" ] || { cat "$WORK/$name.err" >&2; exit 1; }
}
serve pem CUSTOS_TLS_CERTIFICATE="$WORK/pem.crt" CUSTOS_TLS_PRIVATE_KEY="$WORK/pem.key"
PEM_PORT="$PORT"
# A second process on the same data directory: the keystore's store is shared safely.
serve keystore CUSTOS_TLS_KEY=bench/web CUSTOS_TLS_KEYSTORE_TRUST=false CUSTOS_TLS_CLIENT_AUTH=none
KEY_PORT="$PORT"

rate() {  # handshakes per second of one s_time run
  openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 -time "$DURATION" 2>/dev/null \
    | awk '/connections in [0-9.]+ real seconds/ {print $1 / $4; exit}'
}
declare -A total=([pem]=0 [keystore]=0)
for side in pem keystore keystore pem; do
  port=$([ "$side" = pem ] && echo "$PEM_PORT" || echo "$KEY_PORT")
  r="$(rate "$port")"
  echo "$side: $r handshakes/s" >&2
  total[$side]="$(python3 -c "print(${total[$side]} + $r)")"
done
python3 - "${total[pem]}" "${total[keystore]}" <<'PY'
import sys
pem, keystore = (float(x) / 2 for x in sys.argv[1:])
print(f"PEM key in BoringSSL: {pem:.0f} handshakes/s; keystore key (tls.key): {keystore:.0f} handshakes/s; ratio {keystore / pem:.2f}")
PY
