"""Times blst (through blspy's PopSchemeMPL) for the same operations as bls-bench.
Run: ../.venv/bin/python blst_bench.py"""
import time
import blspy

P = blspy.PopSchemeMPL
msg = b"benchmark message: custos block 1234567"
sks = [P.key_gen(bytes([i & 0xff, i >> 8]) + bytes(30)) for i in range(256)]
pks = [s.get_g1() for s in sks]
sigs = [P.sign(s, msg) for s in sks]
agg = P.aggregate(sigs)
pk_bytes = bytes(pks[0])


def measure(name, iterations, fn):
    """Best of 15 timed batches of iterations/5 calls, as BLSBench does."""
    fn()
    batch = max(1, iterations // 5)
    best = float("inf")
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) / batch)
    text = f"{best * 1e3:.3f} ms" if best >= 1e-3 else f"{best * 1e6:.2f} µs"
    print(f"{name:44} {text}")


measure("Sign", 500, lambda: P.sign(sks[0], msg))
measure("Verify", 300, lambda: P.verify(pks[0], msg, sigs[0]))
measure("FastAggregateVerify (256 cached keys)", 300, lambda: P.fast_aggregate_verify(pks, msg, agg))
measure("Aggregate (256 signatures)", 300, lambda: P.aggregate(sigs))
measure("G1 decompress + validate (G1Element.from_bytes)", 5000, lambda: blspy.G1Element.from_bytes(pk_bytes))
sk_bytes = bytes(sks[0])
measure("SkToPk (PrivateKey.from_bytes + get_g1)", 2000, lambda: blspy.PrivateKey.from_bytes(sk_bytes).get_g1())
measure("PopProve", 500, lambda: P.pop_prove(sks[0]))
