"""One PKCS#11 module, two users in one server process: the root of trust on one
SoftHSM2 token and a High-level HSM on another. When the root's token goes away and
comes back, the module is finalised and initialised again to see it; the HSM's
session from before must be replaced, not used stale, so no request fails."""

from __future__ import annotations

import os
import subprocess
import time

from custos_cli import TENANT
from providers import SO_PIN
from test_roots import MSG, pkcs11_custos, pkcs11_init_args


def wait_ready(server, status: int, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and server.call("GET", "/v1/health/ready").status_code != status:
        time.sleep(0.3)
    assert server.call("GET", "/v1/health/ready").status_code == status


def test_root_token_recovery_leaves_the_other_tokens_session_usable(custos_bin, tmp_path, softhsm):
    from server import Server, b64

    tokens = softhsm.directory / "tokens"
    [root_token] = list(tokens.iterdir())
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "custos-hsm", "--pin", softhsm.pin,
                    "--so-pin", SO_PIN], env=dict(os.environ, **softhsm.env), capture_output=True, check=True, timeout=60)
    c = pkcs11_custos(custos_bin, tmp_path, softhsm)
    c.env["CUSTOS_HSM_PIN_HSM1"] = softhsm.pin
    c.run("init", *pkcs11_init_args(softhsm))
    c.run("tenant", "create", TENANT)
    c.run("hsm", "add", "hsm1", "--module", softhsm.module, "--token-label", "custos-hsm")
    c.run("tenant", "assign", TENANT, "--category", "LEDGER", "--level", "high", "--hsm", "hsm1")
    c.generate("ed", "ed25519")
    server = Server(c, config={"keystore": {"root_check_interval_seconds": 1}}).start()
    try:
        token = server.token("signer", TENANT)
        sign = lambda: server.call("POST", f"/v1/tenants/{TENANT}/keys/ed/sign", token, {"message": b64(MSG)})
        assert sign().status_code == 200  # hsm1's session is now open in the server
        away = softhsm.directory / "unplugged"
        root_token.rename(away)
        wait_ready(server, 503)
        away.rename(root_token)
        wait_ready(server, 200)
        # Keys were dropped while the root refused: this unwraps through hsm1 again.
        first = sign()
        assert first.status_code == 200, first.text
    finally:
        server.stop()
