"""Contract: schemathesis drives the live server from openapi.yaml. No 5xx, and every
response (status, content type, headers, body) must match the specification."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from custos_cli import REPO
from server import b64

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])


def test_schemathesis_finds_no_contract_violation(server):
    admin = server.token("admin")
    # Something for generated requests to find: keys of several kinds in tenant acme.
    for alias, scheme in [("sig", "ed25519"), ("ec", "ecdsa-p256-sha256"), ("aes", "aes-256-gcm"),
                          ("mac", "hmac-sha256"), ("bls", "bls12381-pop")]:
        assert server.call("POST", "/v1/tenants/acme/keys", server.token("admin", "acme"),
                           {"alias": alias, "scheme": scheme}).status_code == 201
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [str(st), "run", str(REPO / "openapi.yaml"), "--url", server.url,
         "--header", f"Authorization: Bearer {admin}",
         "--checks", CHECKS, "--max-examples", "25", "--seed", "20261121",
         "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
         "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=server.custos.workdir,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout.lower(), report
    # The server is still healthy afterwards, and its audit chain intact. (A fresh
    # token: generated requests may well have revoked the admin's own.)
    assert server.call("GET", "/v1/health/ready").status_code == 200
    verified = server.call("POST", "/v1/audit/verify", server.token("auditor"))
    assert verified.status_code == 200 and verified.json()["intact"] is True, verified.text[:500]
