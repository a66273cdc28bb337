#!/usr/bin/env python3
"""Reads the text output of `swift package benchmark --no-progress` (stdin or a file)
and prints, for each raw/Custos pair, the wall-clock p50 and p25, the throughput at the
median (1 / p50) and the ratio. Pairs are benchmarks named "<op> / raw …" and
"<op> / <anything else>" inside the same benchmark target."""
import re
import sys

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
text = re.sub(r"\x1b\[[0-9;]*m", "", text)
results = {}  # (target, name) -> {p0, p25, p50, p75, p99, samples} in ns
target = None
name = None
lines = text.splitlines()
for index, line in enumerate(lines):
    if index + 1 < len(lines) and set(lines[index + 1].strip()) == {"="} and set(lines[index - 1].strip() or "x") == {"="}:
        target = line.strip()
        continue
    if line.strip() and index + 1 < len(lines) and lines[index + 1].startswith("╒"):
        name = line.strip()
        continue
    match = re.match(r"│ Time \(wall clock\) \((ns|μs|us)\) \*?\s*│(.*)", line)
    if match and name:
        unit = 1000 if match.group(1) != "ns" else 1
        cells = [c.strip() for c in match.group(2).split("│") if c.strip()]
        values = [float(c) * unit for c in cells]
        results[(target, name)] = dict(zip(["p0", "p25", "p50", "p75", "p90", "p99", "p100", "samples"], values))

for (target, name), value in sorted(results.items()):
    print(f"{target:<20} {name:<60} p0 {value['p0']/1000:8.2f}µs  p25 {value['p25']/1000:8.2f}µs  p50 {value['p50']/1000:8.2f}µs  p75 {value['p75']/1000:8.2f}µs  samples {value['samples']:.0f}")
print()
print(f"{'target':<20} {'operation':<48} {'raw p50':>10} {'ours p50':>10} {'raw/s':>9} {'ours/s':>9} {'thr ratio':>9} {'time ratio':>10} {'p25 thr ratio':>13}")
for (target, name), ours in sorted(results.items()):
    op, _, who = name.partition(" / ")
    if who.startswith("raw"):
        continue
    raw = next((v for (t, n), v in results.items() if t == target and n.startswith(op + " / raw")), None)
    if raw is None:
        continue
    print(f"{target:<20} {name:<48} {raw['p50']/1000:>8.2f}µs {ours['p50']/1000:>8.2f}µs "
          f"{1e9/raw['p50']:>9.0f} {1e9/ours['p50']:>9.0f} {raw['p50']/ours['p50']:>9.1%} "
          f"{ours['p50']/raw['p50']:>9.2f}× {raw['p25']/ours['p25']:>13.1%}")
