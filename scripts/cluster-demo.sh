#!/usr/bin/env bash
# A four-replica network on loopback, from bundles to operational, with its key log verified:
# genesis on an operator's data directory, each replica joins with its sealed bundle, four
# `custos serve` talk over pinned mutual TLS, a stub sequencer (test code, standing in for the
# ledger's ordering) schedules the certified records and hands in checkpoint notices, the
# bootstrap keys are destroyed, and `custos cluster log verify` replays the log from genesis.
# Run it with `make cluster-demo` (which builds the CLI and the Python environment first).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$(swift build --show-bin-path)/custos"
if [ ! -x "$BIN" ]; then
  echo "cluster-demo: $BIN is missing; build it with \`swift build --product custos\` (or run \`make cluster-demo\`)" >&2
  exit 1
fi
PYTHON="${VENV:-.venv}/bin/python"
if [ ! -x "$PYTHON" ]; then
  echo "cluster-demo: $PYTHON is missing; run \`make deps\` (or \`make cluster-demo\`)" >&2
  exit 1
fi
exec "$PYTHON" scripts/cluster_demo.py "$BIN"
