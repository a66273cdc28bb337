"""Running the `custos` binary from the interop tests: a data directory's runner (`Custos`),
its results, and the suite's constants. The fixtures (conftest.py) and the live-server code
(server.py) both build on it; it imports neither, so neither imports the other.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "interop-test-passphrase-not-a-secret"
TENANT = "acme"
SCRYPT_LOG_N = "10"


# ---------------------------------------------------------------------------------------
# Running the binary
# ---------------------------------------------------------------------------------------

@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    def json_lines(self) -> list:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def hex(self) -> bytes:
        """stdout as hex bytes (signatures, ciphertexts, DER/raw keys)."""
        return bytes.fromhex(self.out.strip())


class Custos:
    """One Custos data directory with an initialised root of trust and a tenant."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.tenant = TENANT
        home = workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(
            CUSTOS_DATA_DIR=str(self.data_dir),
            CUSTOS_PASSPHRASE=PASSPHRASE,
            HOME=str(home),  # a default of ~/.custos can never reach the real home
        )
        # Strings that must never appear in any output (passphrase, imported private keys).
        self.secrets: list[str] = [PASSPHRASE]
        self._n = 0

    # -- plumbing -----------------------------------------------------------------------

    def file(self, data: bytes | str, suffix: str = ".bin") -> Path:
        """Write data to a fresh file in the work dir and return its path."""
        self._n += 1
        p = self.workdir / f"f{self._n}{suffix}"
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def run(self, *args, expect: int | None = 0, env: dict | None = None) -> Result:
        argv = [str(self.binary), *[str(a) for a in args]]
        proc = subprocess.run(
            argv, env=env or self.env, capture_output=True, stdin=subprocess.DEVNULL, timeout=300,
        )
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        res = Result(argv[1:], proc.returncode, out, err)
        printed = (out + err).lower()
        for s in self.secrets:
            assert s.lower() not in printed, f"secret material printed by: custos {' '.join(res.args)}"
        if expect is not None:
            assert proc.returncode == expect, (
                f"custos {' '.join(res.args)}\nexit {proc.returncode} (expected {expect})\n"
                f"stdout: {out[:2000]}\nstderr: {err[:2000]}"
            )
        if proc.returncode == 2:
            # Errors: one line on stderr starting with "error:".
            lines = [line for line in err.splitlines() if line.strip()]
            assert lines and lines[-1].startswith("error:"), f"exit 2 without an `error:` line: {err!r}"
        return res

    def fails(self, *args) -> str:
        """Run a command that must fail with exit 2; return its error line."""
        res = self.run(*args, expect=2)
        return [line for line in res.err.splitlines() if line.startswith("error:")][-1]

    # -- key operations -------------------------------------------------------------------

    def generate(self, alias: str, scheme: str, *extra) -> Result:
        args = ["key", "generate", "--tenant", self.tenant, "--alias", alias, "--scheme", scheme]
        if scheme.startswith("rsa-") and "--rsa-bits" not in extra:
            args += ["--rsa-bits", "2048"]
        return self.run(*args, *extra)

    def public(self, alias: str, fmt: str = "pem", version: int | None = None) -> bytes:
        args = ["key", "public", "--tenant", self.tenant, alias, "--format", fmt]
        if version is not None:
            args += ["--version", version]
        res = self.run(*args)
        return res.out.encode() if fmt in ("pem", "jwk") else res.hex()

    def public_pem_file(self, alias: str, version: int | None = None) -> Path:
        return self.file(self.public(alias, "pem", version), ".pem")

    def sign(self, alias: str, message: bytes, fmt: str | None = None) -> bytes:
        args = ["sign", "--tenant", self.tenant, "--key", alias, "--message-file", self.file(message)]
        if fmt:
            args += ["--signature-format", fmt]
        return self.run(*args).hex()

    def sign_json(self, alias: str, message: bytes, fmt: str | None = None) -> dict:
        args = ["sign", "--tenant", self.tenant, "--key", alias, "--message-file", self.file(message), "--json"]
        if fmt:
            args += ["--signature-format", fmt]
        return self.run(*args).json()

    def verify(self, scheme: str, public_key, message: bytes, signature: bytes,
               fmt: str | None = None, expect: int = 0) -> Result:
        """`custos verify --scheme` with a PEM file (Path) or a hex string public key."""
        args = ["verify", "--scheme", scheme, "--public-key", public_key,
                "--message-file", self.file(message), "--signature", signature.hex(), "--json"]
        if fmt:
            args += ["--signature-format", fmt]
        res = self.run(*args, expect=expect)
        if expect in (0, 1):
            assert res.json().get("valid") is (expect == 0), res.out
        return res

    def list_aliases(self, *filters) -> list[str]:
        res = self.run("key", "list", "--tenant", self.tenant, *filters, "--json")
        return [k["alias"] for k in keys_in_listing(res.out)]


def edit_database(custos: Custos, *statements: str) -> None:
    """Runs SQL on a data directory's database behind Custos's back, as a tamperer would."""
    db = sqlite3.connect(custos.data_dir / "custos.sqlite")
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


def keys_in_listing(out: str) -> list[dict]:
    """Key records from `key list --json`: a JSON array, an object holding an array, or JSON lines."""
    out = out.strip()
    if not out:
        return []
    try:
        doc = json.loads(out)
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for field in ("keys", "items", "results", "data"):
            if isinstance(doc.get(field), list):
                return doc[field]
        if "alias" in doc:
            return [doc]
    raise AssertionError(f"unrecognised key list output: {out[:500]}")
