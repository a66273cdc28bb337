#!/usr/bin/env python3
"""Runs BLSBench (Custos's BLS12381) and blst_bench.py (blst through blspy) alternately,
RUNS times each (default 3), and prints both figures and the time ratio Custos/blst per run
for every operation the two measure, with the goal from the issue.
Run from Benchmarks/ after `swift build -c release --product BLSBench`:
    ../.venv/bin/python scripts/bls_vs_blst.py [RUNS]"""
import re
import subprocess
import sys

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
# (label, BLSBench line prefix, blst_bench line prefix, goal)
OPS = [
    ("Sign", "Sign", "Sign", 2.0),
    ("Verify", "Verify", "Verify", 1.5),
    ("FastAggregateVerify, 256 cached keys", "FastAggregateVerify", "FastAggregateVerify", 1.5),
    ("Aggregate, 256 signatures", "Aggregate (256", "Aggregate (256", 2.0),
    ("SkToPk", "SkToPk", "SkToPk", 2.0),
    ("PopProve", "PopProve", "PopProve", 2.0),
    ("Public key decode + KeyValidate", "PublicKey decode + KeyValidate", "G1 decompress + validate", 2.0),
]


def parse(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"(.*?)\s+([0-9.]+) (ms|µs)$", line)
        if m:
            out[m.group(1).strip()] = float(m.group(2)) * (1000 if m.group(3) == "ms" else 1)
    return out


def lookup(figures, prefix):
    if prefix in figures:
        return figures[prefix]
    for name, value in figures.items():
        if name.startswith(prefix):
            return value
    raise SystemExit(f"no figure for {prefix!r}")


runs = []
for _ in range(RUNS):
    ours = parse(subprocess.run([".build/release/BLSBench"], check=True, capture_output=True, text=True).stdout)
    blst = parse(subprocess.run([sys.executable, "scripts/blst_bench.py"], check=True, capture_output=True, text=True).stdout)
    runs.append((ours, blst))

print(f"| Operation | Custos (µs), runs 1–{RUNS} | blst (µs), runs 1–{RUNS} | ratio per run | goal | met in every run |")
print("|---|---|---|---|---|---|")
for label, ours_prefix, blst_prefix, goal in OPS:
    o = [lookup(r[0], ours_prefix) for r in runs]
    b = [lookup(r[1], blst_prefix) for r in runs]
    ratios = [x / y for x, y in zip(o, b)]
    met = "yes" if all(r <= goal for r in ratios) else "**no**"
    print(f"| {label} | {' / '.join(f'{x:.0f}' for x in o)} | {' / '.join(f'{x:.0f}' for x in b)} | "
          f"{' / '.join(f'{r:.2f}×' for r in ratios)} | ≤ {goal:g}× | {met} |")
