#!/usr/bin/env python3
"""Starts SoftHSM2 (a token in a temporary directory), swtpm and moto_server on loopback,
then runs the release RootBench executable against them (see ../../BENCHMARKS.md).

Run from Benchmarks/ with the repository's virtual environment (it has moto and boto3):
    swift build -c release --product RootBench
    ../.venv/bin/python scripts/roots_bench.py [RootBench options: --unseal-runs N --sign-ops N --tenants N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "interop"))
from providers import SwTPM, free_port, make_softhsm, start_kms, stop  # noqa: E402


def main() -> int:
    binary = HERE.parent / ".build" / "release" / "RootBench"
    if not binary.exists():
        print(f"roots_bench: {binary} is missing; run `swift build -c release --product RootBench` in Benchmarks/", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="custos-rootbench-") as tmp:
        tmp = Path(tmp)
        hsm = make_softhsm(tmp / "softhsm")
        (tmp / "swtpm").mkdir()
        tpm = SwTPM(tmp / "swtpm", free_port(2))
        tpm.start()
        kms = start_kms(tmp / "moto.log")
        try:
            key_id = kms.create_key()
            env = dict(os.environ, **hsm.env, **kms.env,
                       CUSTOS_PKCS11_PIN=hsm.pin, BENCH_PKCS11_MODULE=hsm.module, BENCH_PKCS11_TOKEN=hsm.label,
                       BENCH_TPM_TCTI=tpm.tcti, BENCH_KMS_ENDPOINT=kms.endpoint, BENCH_KMS_KEY_ID=key_id)
            return subprocess.run([str(binary), *sys.argv[1:]], env=env).returncode
        finally:
            stop(kms.proc)
            tpm.stop()


if __name__ == "__main__":
    sys.exit(main())
