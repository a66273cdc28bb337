#!/usr/bin/env bash
# A short tour of Custos on a throw-away data directory (removed at exit):
# init, a tenant, one key per scheme, sign and verify, PEM export, rotation,
# encryption, HMAC, BLS aggregation, destroy, list, an Ethereum account with a policy, then
# the HTTP server with a token, client mode, the JSON-RPC signer and the audit log. Run it with `make demo` (which builds the CLI first).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$(swift build --show-bin-path)/custos"
if [ ! -x "$BIN" ]; then
  echo "demo: $BIN is missing; build it with \`swift build --product custos\` (or run \`make demo\`)" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/custos-demo.XXXXXX")"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export CUSTOS_DATA_DIR="$WORK/data"
export CUSTOS_PASSPHRASE="demo passphrase, not a secret"   # a real deployment uses a file or a prompt
TENANT=demo-node

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ custos %s\n' "$*"; "$BIN" "$@"; }
tohex() { od -An -tx1 -v | tr -d ' \n'; }
fromhex() { local h; h="$(cat)"; printf '%b' "$(printf '%s' "$h" | sed 's/../\\x&/g')"; }
short() { local s; s="$(cat)"; if [ "${#s}" -gt 72 ]; then printf '%s… (%d hex chars)\n' "${s:0:64}" "${#s}"; else printf '%s\n' "$s"; fi; }

step "1. Initialise a data directory: passphrase-sealed root of trust + SQLite store"
echo "data directory: $CUSTOS_DATA_DIR (scrypt cost lowered to 2^14 for the demo; the default is 2^16)"
run init --scrypt-log-n 14

step "2. Create a tenant (it gets its own wrapping key, sealed by the root)"
run tenant create "$TENANT"

step "3. Generate one key per scheme"
SIGNING=(ed25519 ecdsa-p256-sha256 ecdsa-p384-sha384 ecdsa-secp256k1-sha256 ecdsa-secp256k1-keccak256
         rsa-pss-sha256 rsa-pkcs1-sha256 ml-dsa-65)
for scheme in "${SIGNING[@]}"; do
  extra=()
  [[ $scheme == rsa-* ]] && extra=(--rsa-bits 2048)
  "$BIN" key generate --tenant "$TENANT" --alias "$scheme" --scheme "$scheme" "${extra[@]}" >/dev/null
  echo "generated $scheme"
done
"$BIN" key generate --tenant "$TENANT" --alias secrets --scheme aes-256-gcm >/dev/null && echo "generated aes-256-gcm (alias: secrets)"
"$BIN" key generate --tenant "$TENANT" --alias mac --scheme hmac-sha256 >/dev/null && echo "generated hmac-sha256 (alias: mac)"

step "4. Sign a message with each signing key, and verify it"
MSG="$WORK/message.txt"
printf 'transfer 100 units from alice to bob\n' >"$MSG"
echo "message: $(cat "$MSG")"
for scheme in "${SIGNING[@]}"; do
  sig="$("$BIN" sign --tenant "$TENANT" --key "$scheme" --message-file "$MSG")"
  verdict="$("$BIN" verify --tenant "$TENANT" --key "$scheme" --message-file "$MSG" --signature "$sig")"
  printf '%-27s %-8s %s\n' "$scheme" "$verdict" "$(printf '%s' "$sig" | short)"
done

step "5. Export a public key as PEM; anyone can verify with it, no data directory needed"
run key public --tenant "$TENANT" ed25519 --out "$WORK/ed25519.pem"
cat "$WORK/ed25519.pem"
sig="$("$BIN" sign --tenant "$TENANT" --key ed25519 --message-file "$MSG")"
run verify --scheme ed25519 --public-key "$WORK/ed25519.pem" --message-file "$MSG" --signature "$sig"
if command -v openssl >/dev/null 2>&1; then
  printf '%s' "$sig" | fromhex >"$WORK/sig.bin"
  printf 'OpenSSL agrees: '
  openssl pkeyutl -verify -pubin -inkey "$WORK/ed25519.pem" -rawin -in "$MSG" -sigfile "$WORK/sig.bin"
fi

step "6. Rotate a key: new signatures use version 2, version-1 signatures still verify"
old_sig="$sig"
run key rotate --tenant "$TENANT" ed25519
run sign --tenant "$TENANT" --key ed25519 --message-file "$MSG" --json
printf 'old (version 1) signature: '
"$BIN" verify --tenant "$TENANT" --key ed25519 --version 1 --message-file "$MSG" --signature "$old_sig"

step "7. Encrypt and decrypt with AES-256-GCM (associated data must match)"
plain_hex="$(printf 'meet at the usual place' | tohex)"
ct="$("$BIN" encrypt --tenant "$TENANT" --key secrets --plaintext-hex "$plain_hex" --aad-hex 6f7264657231)"
echo "ciphertext: $(printf '%s' "$ct" | short)"
back="$("$BIN" decrypt --tenant "$TENANT" --key secrets --ciphertext-hex "$ct" --aad-hex 6f7264657231)"
echo "decrypted:  $(printf '%s' "$back" | fromhex)"
printf 'with other associated data: '
"$BIN" decrypt --tenant "$TENANT" --key secrets --ciphertext-hex "$ct" --aad-hex 00 2>&1 >/dev/null || true

step "8. HMAC-SHA-256"
run hmac --tenant "$TENANT" --key mac --message-file "$MSG"

step "9. BLS12-381: three replicas sign one message, one aggregate signature verifies"
"$BIN" key generate --tenant "$TENANT" --alias replica --scheme bls12381-pop --category CONSENSUS --count 3 >/dev/null
echo "generated bls12381-pop keys replica-1 … replica-3"
sigs=() pks=() pops=()
for i in 1 2 3; do
  sigs+=(--signature "$("$BIN" sign --tenant "$TENANT" --key "replica-$i" --message-file "$MSG")")
  pks+=("\"$("$BIN" key public --tenant "$TENANT" "replica-$i" --format raw)\"")
  pops+=("\"$("$BIN" key pop --tenant "$TENANT" "replica-$i")\"")
done
agg="$("$BIN" aggregate "${sigs[@]}")"
echo "aggregate of 3 signatures: $(printf '%s' "$agg" | short)"
msg_hex="$(tohex <"$MSG")"
join() { local IFS=,; printf '%s' "$*"; }
printf '{"id":"quorum","scheme":"bls12381-pop","public_keys":[%s],"proofs_of_possession":[%s],"message":"%s","signature":"%s"}\n' \
  "$(join "${pks[@]}")" "$(join "${pops[@]}")" "$msg_hex" "$agg" >"$WORK/quorum.jsonl"
printf '{"id":"quorum-other-message","scheme":"bls12381-pop","public_keys":[%s],"proofs_of_possession":[%s],"message":"00","signature":"%s"}\n' \
  "$(join "${pks[@]}")" "$(join "${pops[@]}")" "$agg" >>"$WORK/quorum.jsonl"
run verify --batch "$WORK/quorum.jsonl"

step "10. Destroy a key (crypto-shredding): signing with it now fails"
run key destroy --tenant "$TENANT" ecdsa-p384-sha384
printf '$ custos sign --tenant %s --key ecdsa-p384-sha384 ...\n' "$TENANT"
if err="$("$BIN" sign --tenant "$TENANT" --key ecdsa-p384-sha384 --message-file "$MSG" 2>&1 >/dev/null)"; then
  echo "demo: signing with a destroyed key succeeded" >&2
  exit 1
else
  echo "$err (exit code $?)"
fi

step "11. List the tenant's keys (alias, scheme, category, status, primary version)"
run key list --tenant "$TENANT"

step "12. Ethereum: an account, the tenant's chain, a signing policy, a transaction"
run key generate --tenant "$TENANT" --alias wallet --scheme ecdsa-secp256k1-keccak256 --category ACCOUNTS | grep -E '^(\$ custos|alias|scheme|address)'
ADDRESS="$("$BIN" eth account --tenant "$TENANT" --account wallet --json | sed -n 's/.*"address":"\(0x[0-9a-fA-F]*\)".*/\1/p')"
run eth chain --tenant "$TENANT" --set 11155111
run eth policy --tenant "$TENANT" --account wallet --max-value 1000000000000000000 --daily-limit 2000000000000000000
TX='{"to": "0xc2F7E4D3b44Ec33a6a7f5d9fBAF5A0AAA5EAd388", "value": "500000000000000000", "gas": 21000, "maxFeePerGas": "30000000000", "maxPriorityFeePerGas": "1000000000"}'
echo "transaction (no chainId, no nonce: the tenant's chain and the account's next nonce): $TX"
RAW="$("$BIN" eth sign-tx --tenant "$TENANT" --account wallet --tx "$TX")"
echo "raw transaction for eth_sendRawTransaction: $(printf '%s' "$RAW" | short)"
run eth decode-tx "$RAW" --chain-id 11155111 | grep -E '^(\$ custos|hash|from|chainId|nonce|value)'
printf '$ custos eth sign-tx ... (value 2 ether: over the policy)\n'
"$BIN" eth sign-tx --tenant "$TENANT" --account wallet --tx "${TX/500000000000000000/2000000000000000000}" 2>&1 || true

step "13. Serve the API (loopback, a free port) and use it with a signer token"
"$BIN" token create --tenant "$TENANT" --role signer --ttl 10m --json >"$WORK/token.json"
TOKEN="$(sed -n 's/.*"bearer":"\([^"]*\)".*/\1/p' "$WORK/token.json")"
echo "created a signer token for $TENANT (its secret is shown once; only its hash is stored)"
CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning "$BIN" serve >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err" >&2; exit 1; }
echo "custos serve is listening on $URL"
printf '$ curl -X POST %s/v1/tenants/%s/keys/ed25519/sign -d {"message":"<base64>"}\n' "$URL" "$TENANT"
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"message\":\"$(base64 -w0 <"$MSG")\"}" "$URL/v1/tenants/$TENANT/keys/ed25519/sign"; echo
printf '$ curl (no token) %s/v1/tenants/%s/keys\n' "$URL" "$TENANT"
curl -s "$URL/v1/tenants/$TENANT/keys"; echo
echo "client mode: the same commands through the server, no data directory or passphrase"
printf '$ custos --server %s sign --tenant %s --key ecdsa-p256-sha256 --message-file msg.txt\n' "$URL" "$TENANT"
env -u CUSTOS_PASSPHRASE CUSTOS_DATA_DIR="$WORK/none" CUSTOS_SERVER="$URL" CUSTOS_TOKEN="$TOKEN" \
  "$BIN" sign --tenant "$TENANT" --key ecdsa-p256-sha256 --message-file "$MSG" | short
printf '$ custos --server %s key rotate --tenant %s ed25519   (a signer may not)\n' "$URL" "$TENANT"
env -u CUSTOS_PASSPHRASE CUSTOS_DATA_DIR="$WORK/none" CUSTOS_SERVER="$URL" CUSTOS_TOKEN="$TOKEN" \
  "$BIN" key rotate --tenant "$TENANT" ed25519 2>&1 || true
echo "the JSON-RPC signer, as web3.py or ethers would call it (its provider URL: $URL/v1/tenants/$TENANT/eth)"
printf '$ curl -X POST %s/v1/tenants/%s/eth -d {"method":"eth_signTransaction",...}\n' "$URL" "$TENANT"
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_signTransaction\",\"params\":[{\"from\":\"$ADDRESS\",\"to\":\"0xc2F7E4D3b44Ec33a6a7f5d9fBAF5A0AAA5EAd388\",\"value\":\"0x1\",\"gas\":\"0x5208\",\"maxFeePerGas\":\"0x6fc23ac00\",\"maxPriorityFeePerGas\":\"0x3b9aca00\"}]}" \
  "$URL/v1/tenants/$TENANT/eth" | sed 's/"raw":"\(0x[0-9a-f]\{40\}\)[0-9a-f]*"/"raw":"\1…"/' | cut -c1-220; echo
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=""
echo "SIGTERM: the server drained, signed a final audit checkpoint and closed the store"

step "14. TLS from the keystore: a tenant CA issues the server's certificate; its key never leaves the keystore"
run tls ca create --tenant "$TENANT" --alias tls-ca --subject "CN=Demo Root CA,O=Custos demo" | grep -E '^(\$ custos|serial|subject|not after|pin)'
run tls issue --tenant "$TENANT" --alias web --issuer tls-ca --subject "CN=custos" --ip 127.0.0.1 --usage server --days 30 \
  | grep -E '^(\$ custos|key|serial|not after|pin|names)'
"$BIN" tls export --tenant "$TENANT" --alias tls-ca >"$WORK/ca.pem"
"$BIN" tls export --tenant "$TENANT" --alias web >"$WORK/web.pem"
printf '$ openssl verify -CAfile ca.pem web.pem\n'
openssl verify -CAfile "$WORK/ca.pem" "$WORK/web.pem"
CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning CUSTOS_TLS_KEY="$TENANT/web" CUSTOS_TLS_KEYSTORE_TRUST=false CUSTOS_TLS_CLIENT_AUTH=none \
  "$BIN" serve >"$WORK/tls.out" 2>"$WORK/tls.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/tls.out" 2>/dev/null && break; sleep 0.1; done
TLS_URL="$(grep -o 'https://[0-9.:]*' "$WORK/tls.out" | head -1)"
[ -n "$TLS_URL" ] || { cat "$WORK/tls.err" >&2; exit 1; }
served_serial() {
  openssl s_client -connect "${TLS_URL#https://}" -tls1_3 -CAfile "$WORK/ca.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial
}
echo "custos serve is listening on $TLS_URL (TLS 1.3, certificate and key from the keystore)"
printf '$ curl --cacert ca.pem %s/v1/health/live\n' "$TLS_URL"
curl -s --cacert "$WORK/ca.pem" "$TLS_URL/v1/health/live"; echo
echo "served certificate: $(served_serial)"
run tls rotate --tenant "$TENANT" --alias web | grep -E '^(\$ custos|key|serial)'
sleep 1
echo "served certificate one second later, same process, no restart: $(served_serial)"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=""

step "15. The audit log: every operation above, hash-chained; then someone edits a record"
"$BIN" audit list --limit 1000 | tail -n 4 | cut -c1-150
run audit verify
sqlite3 "$CUSTOS_DATA_DIR/custos.sqlite" "UPDATE audit_records SET outcome = 'failure' WHERE sequence = 5"
echo "(edited record 5 directly in the database)"
printf '$ custos audit verify\n'
"$BIN" audit verify || echo "(exit code $?)"

printf '\nDemo finished; %s is removed on exit.\n' "$WORK"
