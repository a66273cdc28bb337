"""A live `custos serve` for the server tests: its own data directory, a free port,
an admin token, and helpers for HTTP calls (requests) and audit inspection."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import requests

from custos_cli import Custos


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


class Server:
    """`custos serve` on a fresh data directory (from a `Custos` fixture)."""

    def __init__(self, custos: Custos, config: dict | None = None, env: dict | None = None,
                 preexec=None, cwd: Path | None = None):
        """`preexec` runs in the child before exec (limits, umask); `cwd` is its directory."""
        self.custos = custos
        self.preexec = preexec
        self.cwd = cwd
        self.config_path = custos.workdir / "server.json"
        base = {"server": {"host": "127.0.0.1", "port": 0}, "audit": {"checkpoint_interval_seconds": 3600}}
        for section, values in (config or {}).items():
            base.setdefault(section, {}).update(values)
        self.config_path.write_text(json.dumps(base))
        self.env = dict(custos.env)
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log_path = custos.workdir / "server.log"
        # Token secrets: printed once by `token create`, never in any API response.
        self.token_secrets: list[str] = []

    def start(self, timeout: float = 60) -> "Server":
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.custos.binary), "serve", "--config", str(self.config_path)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log,
            preexec_fn=self.preexec, cwd=self.cwd,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise AssertionError(f"custos serve exited early ({self.proc.wait()}): {self.log_path.read_text()[-2000:]}")
            match = re.search(r"listening on (https?://[\d.]+:\d+)", line)
            if match:
                self.url = match.group(1)
                return self
        raise AssertionError("custos serve did not report its address")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()

    # -- tokens and requests -------------------------------------------------------------

    def token(self, role: str, tenant: str | None = None, ttl: str = "1h") -> str:
        args = ["token", "create", "--role", role, "--ttl", ttl, "--json"]
        if tenant:
            args += ["--tenant", tenant]
        bearer = self.custos.run(*args).json()["bearer"]
        self.token_secrets.append(bearer[21:])  # "cst_" + 16 hex + "_" precede the secret
        return bearer

    def call(self, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None,
             params: dict | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
        response = requests.request(method, self.url + path, json=body, data=raw, params=params,
                                    headers=headers, timeout=60, **kwargs)
        # No response carries the passphrase, an imported private key or a token secret
        # (a token's own secret is returned once, by POST /v1/tokens).
        lowered = response.text.lower()
        for secret in self.custos.secrets + self.token_secrets:
            assert secret.lower() not in lowered, f"secret {secret[:6]}… in the response to {method} {path}: {response.text[:300]}"
        return response

    def audit_rows(self) -> list[dict]:
        db = sqlite3.connect(self.custos.data_dir / "custos.sqlite")
        db.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in db.execute("SELECT * FROM audit_records ORDER BY sequence")]
        finally:
            db.close()


def problem(response: requests.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["code"], body
    if code:
        assert body["code"] == code, body
    return body
