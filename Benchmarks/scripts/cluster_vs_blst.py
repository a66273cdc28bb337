#!/usr/bin/env python3
"""Quorum-certificate verification, Custos against blst, in one run: runs ClusterBench (which
writes the certificates it times to a fixtures file), then verifies those same certificates
with blst through blspy (decode the aggregate, sum the signers' cached keys, pairing check
with the protocol's DST), timed the same way (best of 15 batches), and prints the ratios.
Run from Benchmarks/ after `swift build -c release --product ClusterBench`:
    ../.venv/bin/python scripts/cluster_vs_blst.py [RUNS]"""
import json
import re
import subprocess
import sys
import tempfile
import time

import cbor2
from blspy import G1Element, G2Element

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def best_of(iterations, body):
    body()
    batch = max(1, iterations // 5)
    best = float("inf")
    for _ in range(15):
        start = time.perf_counter_ns()
        for _ in range(batch):
            body()
        best = min(best, (time.perf_counter_ns() - start) / batch)
    return best / 1e3


def blst_verify(fixture, keys):
    aggregate, bits, signer_keys = cbor2.loads(bytes.fromhex(fixture["certificate"]))
    signers = [i for i in range(fixture["n"]) if bits[i // 8] >> (i % 8) & 1]
    assert len(signers) >= fixture["quorum"] and len(signer_keys) == len(signers)
    total = keys[signers[0]]
    for i in signers[1:]:
        total = total + keys[i]
    h = G2Element.from_message(bytes.fromhex(fixture["message"]), fixture["dst"].encode())
    return total.pair(h) == G1Element.generator().pair(G2Element.from_bytes(aggregate))


rows = {}
for _ in range(RUNS):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        out = subprocess.run([".build/release/ClusterBench", "--fixtures", f.name], check=True, capture_output=True, text=True).stdout
        fixtures = json.load(open(f.name))
    ours = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"Certificate decode \+ verify, N = (\d+).*?([0-9.]+) µs", out)}
    for fixture in fixtures:
        keys = [G1Element.from_bytes(bytes.fromhex(k)) for k in fixture["public_keys"]]
        assert blst_verify(fixture, keys), "blst refuses a certificate made by Custos"
        theirs = best_of(100, lambda: blst_verify(fixture, keys))
        rows.setdefault(fixture["n"], []).append((ours[fixture["n"]], theirs))

print(f"| N (Q) | Custos decode + verify (µs), runs 1–{RUNS} | blst (µs) | Custos / blst |")
print("|---|---|---|---|")
for n, runs in sorted(rows.items()):
    q = n - (n - 1) // 3
    print(f"| {n} ({q}) | {' / '.join(f'{o:.0f}' for o, _ in runs)} | {' / '.join(f'{b:.0f}' for _, b in runs)} | "
          f"{' / '.join(f'{o / b:.2f}×' for o, b in runs)} |")
