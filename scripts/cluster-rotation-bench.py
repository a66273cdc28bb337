#!/usr/bin/env python3
"""Time from `custos cluster command rotate-replica-keys --replicas all` to every replica
rotated (every replica reports every replica's new keys active), on loopback.

For each N (default 4 and 7): genesis, N `custos serve` replicas over pinned mutual TLS, the
stub sequencer (interop/cluster_sequencer.py) moving one ledger slot per tick every
TICK seconds, W = 4; once operational, RUNS rotations one after the other (epoch e → e + 1),
each timed from starting the CLI (which unseals the operator's data directory and submits the
signed command to replica 0) to the last replica reporting the new epoch of every replica as
active. Also reported: when replica 0 first showed the command certified, executed and
complete, and the ledger slots used. Every process is stopped by its PID; every wait is bounded.

    .venv/bin/python scripts/cluster-rotation-bench.py [--n 4 7] [--runs 3] [--tick 0.1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))
from cluster_nodes import Network  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 180
STATES = ("relaying", "certified", "executed", "complete")


def binary() -> Path:
    explicit = os.environ.get("CUSTOS_BIN")
    if explicit:
        return Path(explicit)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return Path(out.stdout.strip()) / "custos"


def active_epochs(net: Network) -> list[set[int]]:
    """Per replica: the set of active epochs it reports for all replicas (empty when it does not answer)."""
    result = []
    for node in net.replicas:
        status = node.status()
        result.append({k["active"]["epoch"] for k in status["replicas"]} if status else set())
    return result


def one_rotation(net: Network, epoch: int, tick: float) -> dict:
    """Rotates every replica from `epoch` to `epoch` + 1; returns the timings (seconds)."""
    slots = net.sequencer.sequence
    marks: dict[str, float] = {}
    start = time.monotonic()
    answer = net.command("rotate-replica-keys", "--replicas", "all", via=0).json()
    marks["submitted"] = time.monotonic() - start
    number = answer["number"]
    end = start + DEADLINE
    while time.monotonic() < end:
        net.tick()
        state = net.commands(0).get(number, {}).get("state")
        now = time.monotonic() - start
        if state in STATES:
            for reached in STATES[1:STATES.index(state) + 1]:
                marks.setdefault(reached, now)
        if all(epochs == {epoch + 1} for epochs in active_epochs(net)):
            marks["rotated"] = time.monotonic() - start
            marks["slots"] = net.sequencer.sequence - slots
            return marks
        time.sleep(tick)
    raise SystemExit(f"rotation {epoch} → {epoch + 1} did not finish in {DEADLINE} s: {marks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4, 7])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between ledger slots")
    arguments = parser.parse_args()
    custos = binary()
    results = {}
    for n in arguments.n:
        with tempfile.TemporaryDirectory(prefix=f"custos-rotation-bench-{n}.") as root:
            net = Network(custos, Path(root), n=n, clients=0, interval=4)
            try:
                net.start_replicas()
                net.wait_operational(deadline=DEADLINE)
                runs = []
                for run in range(arguments.runs):
                    marks = one_rotation(net, run + 1, arguments.tick)
                    runs.append(marks)
                    print(f"N = {n} run {run + 1}: " + ", ".join(f"{k} {v:.2f}" if k != "slots" else f"{v} slots"
                                                              for k, v in marks.items()), flush=True)
                results[n] = runs
            finally:
                net.stop()
    print("\n| N | runs | median | min – max | command certified (median) | ledger slots |")
    print("|---|---|---|---|---|---|")
    for n, runs in results.items():
        rotated = [r["rotated"] for r in runs]
        certified = [r.get("certified", r.get("executed", 0)) for r in runs]
        slots = sorted({r["slots"] for r in runs})
        print(f"| {n} | {len(runs)} | {statistics.median(rotated):.2f} s | {min(rotated):.2f} – {max(rotated):.2f} s "
              f"| {statistics.median(certified):.2f} s | {slots[0]}–{slots[-1]} |")


if __name__ == "__main__":
    main()
