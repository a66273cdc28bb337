#!/usr/bin/env bash
# Installs what Custos needs to build and test on a Debian machine that has Swift:
#   - Debian packages (only the missing ones; `apt-get update` only if something is missing)
#   - a Python virtual environment at .venv with interop/requirements.txt
#     (skipped when .venv already matches the requirements file)
# Idempotent: a second run does nothing and needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

# softhsm2, swtpm, swtpm-tools and tpm2-tools are what the root-of-trust tests start and
# inspect; libtss2-dev and libp11-kit-dev are the TPM and PKCS#11 headers and libraries.
# opensc provides pkcs11-tool; valgrind (and binutils) run the BLS constant-time check.
# scripts/demo.sh calls the HTTP API with curl, and edits the store with sqlite3.
# gcc (cc) builds the planted shared library of interop/test_root_tampering.py.
# jq and xxd (JSON output, hex to bytes) are used by the documentation's command blocks, which run as tests.
# systemd (systemd-analyze) and strace check the service unit (interop/test_packaging.py).
# prometheus provides promtool, which checks and unit-tests packaging/prometheus/custos-alerts.yml.
APT_PACKAGES=(pkg-config libsecp256k1-dev openssl sqlite3 curl valgrind binutils softhsm2 opensc libp11-kit-dev
              swtpm swtpm-tools tpm2-tools libtss2-dev gcc jq xxd prometheus systemd strace)
PYTHON="${PYTHON:-python3}"
VENV=.venv
REQUIREMENTS=interop/requirements.txt
STAMP="$VENV/.requirements.sha256"

log() { printf 'install-deps: %s\n' "$*"; }

if ! command -v swift >/dev/null 2>&1; then
  log "swift is not on PATH: install the Swift toolchain (6.1 or later) first" >&2
  exit 1
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  # No Python at all: take Debian's.
  APT_PACKAGES+=(python3 python3-venv)
  PYTHON=python3
elif ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian's python3 ships venv without ensurepip unless python3-venv is installed.
  APT_PACKAGES+=(python3-venv)
fi

# --- Debian packages -------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: install ${missing[*]} by hand" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
else
  log "Debian packages present: ${APT_PACKAGES[*]}"
fi

# --- Python virtual environment --------------------------------------------------
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "$VENV is broken (its interpreter does not start): recreating it"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "$VENV matches $REQUIREMENTS"
else
  log "installing $REQUIREMENTS into $VENV"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  "$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS"
  printf '%s\n' "$want" >"$STAMP"
fi
