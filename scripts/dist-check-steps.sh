#!/bin/bash
# Runs inside the clean root of scripts/dist-check.sh: the tarball's binary, no toolchain.
# The key steps of scripts/demo.sh, each checked: init, a tenant, keys of several schemes,
# sign and verify, rotation, encryption, HMAC, a destroyed key refusing, the server with a
# passphrase file (as the systemd unit gives it) and client mode through it, the audit log.
set -euo pipefail
HOME_DIR="${CUSTOS_HOME:-/opt/custos}"   # where the tarball was unpacked
export PATH="$HOME_DIR/bin:/usr/bin:/bin"
fail() { echo "dist-check: FAILED: $*" >&2; exit 1; }
step() { printf '== %s\n' "$*"; }

step "no Swift toolchain here"
if command -v swift swiftc >/dev/null 2>&1; then fail "swift is on PATH"; fi
ldd "$HOME_DIR/bin/custos"
if ldd "$HOME_DIR/bin/custos" | grep -q 'not found'; then fail "a library is missing"; fi

step "custos --version"
custos --version
custos version --json

WORK="${DIST_CHECK_WORK:-/tmp/dist-check}"
mkdir -p "$WORK"
chmod 700 "$WORK"
export CUSTOS_DATA_DIR="$WORK/data"
printf 'dist-check passphrase, not a secret\n' >"$WORK/passphrase"
chmod 600 "$WORK/passphrase"
# As the unit does: the passphrase from a file (options follow the command).
c() { custos "$@" --passphrase-file "$WORK/passphrase"; }
TENANT=node-1

step "init, tenant"
c init --scrypt-log-n 14
c tenant create "$TENANT"

step "keys of several schemes: sign and verify"
printf 'transfer 100 units from alice to bob\n' >"$WORK/msg"
for scheme in ed25519 ecdsa-p256-sha256 ecdsa-p384-sha384 ecdsa-secp256k1-sha256 ecdsa-secp256k1-keccak256 rsa-pss-sha256 ml-dsa-65 bls12381-pop; do
  extra=()
  [[ $scheme == rsa-* ]] && extra=(--rsa-bits 2048)
  c key generate --tenant "$TENANT" --alias "$scheme" --scheme "$scheme" "${extra[@]}" >/dev/null
  sig="$(c sign --tenant "$TENANT" --key "$scheme" --message-file "$WORK/msg")"
  verdict="$(c verify --tenant "$TENANT" --key "$scheme" --message-file "$WORK/msg" --signature "$sig")"
  [ "$verdict" = valid ] || fail "$scheme: verify said '$verdict'"
  printf 'x' >>"$WORK/msg.other"
  other="$(c verify --tenant "$TENANT" --key "$scheme" --message-file "$WORK/msg.other" --signature "$sig" || true)"
  [ "$other" = invalid ] || fail "$scheme: a signature over another message verified ('$other')"
  printf '%-27s %s (%d hex digits)\n' "$scheme" "$verdict" "${#sig}"
done

step "rotate: version 2 signs, the version-1 signature still verifies"
old="$(c sign --tenant "$TENANT" --key ed25519 --message-file "$WORK/msg")"
c key rotate --tenant "$TENANT" ed25519
c sign --tenant "$TENANT" --key ed25519 --message-file "$WORK/msg" --json
[ "$(c verify --tenant "$TENANT" --key ed25519 --version 1 --message-file "$WORK/msg" --signature "$old")" = valid ] \
  || fail "the version-1 signature no longer verifies"

step "AES-256-GCM and HMAC"
c key generate --tenant "$TENANT" --alias secrets --scheme aes-256-gcm >/dev/null
ct="$(c encrypt --tenant "$TENANT" --key secrets --plaintext-hex 6d656574 --aad-hex 01)"
[ "$(c decrypt --tenant "$TENANT" --key secrets --ciphertext-hex "$ct" --aad-hex 01)" = 6d656574 ] || fail "decrypt"
if c decrypt --tenant "$TENANT" --key secrets --ciphertext-hex "$ct" --aad-hex 02 2>/dev/null; then fail "decrypt with other associated data"; fi
c key generate --tenant "$TENANT" --alias mac --scheme hmac-sha256 >/dev/null
c hmac --tenant "$TENANT" --key mac --message-file "$WORK/msg"

step "destroy: the key refuses to sign"
c key destroy --tenant "$TENANT" ecdsa-p384-sha384
if c sign --tenant "$TENANT" --key ecdsa-p384-sha384 --message-file "$WORK/msg" 2>"$WORK/err"; then fail "a destroyed key signed"; fi
cat "$WORK/err"

step "serve (passphrase from a file, as LoadCredential gives it) and client mode"
token_json="$(c token create --tenant "$TENANT" --role signer --ttl 10m --json)"
TOKEN="$(printf '%s' "$token_json" | sed -n 's/.*"bearer":"\([^"]*\)".*/\1/p')"
[ -n "$TOKEN" ] || fail "no token in: $token_json"
# custos itself in the background (not the function c), so $! is the server.
CUSTOS_SERVER_PORT=0 CUSTOS_LOG_LEVEL=warning custos serve --passphrase-file "$WORK/passphrase" >"$WORK/serve.out" 2>"$WORK/serve.err" &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
[ -n "$URL" ] || { cat "$WORK/serve.err" >&2; fail "the server did not start"; }
echo "listening on $URL"
sig="$(env CUSTOS_DATA_DIR="$WORK/none" CUSTOS_SERVER="$URL" CUSTOS_TOKEN="$TOKEN" custos sign --tenant "$TENANT" --key ed25519 --message-file "$WORK/msg")"
[ "$(c verify --tenant "$TENANT" --key ed25519 --message-file "$WORK/msg" --signature "$sig")" = valid ] \
  || fail "the server's signature does not verify"
echo "signed through the server: ${sig:0:32}…"
kill -TERM "$server"
wait "$server" || fail "the server exited $? on SIGTERM"

step "audit verify"
c audit verify
echo "dist-check: every step passed"
