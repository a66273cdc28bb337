"""Running `custos serve` as an operator does: SIGHUP reloads the configuration (log level and
format, TLS files and pins, cached tokens) and never stops the server; a bad configuration
is refused and the running one kept; JSON log lines parse; configuration and file errors
name the key or the file. Real processes, stopped by PID, every wait bounded."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import requests

from server import Server
from test_tls_reload import Identity, handshake, replace

WAIT = 20.0  # seconds at most for one reload to show in the log


def log_text(server: Server) -> str:
    return server.log_path.read_bytes().decode("utf-8", "replace")


def hangup(server: Server, marker: str) -> str:
    """SIGHUP, then wait until the log has one more line containing `marker`; the log after it."""
    before = log_text(server)
    count = before.count(marker)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + WAIT
    while time.time() < deadline:
        text = log_text(server)
        if text.count(marker) > count:
            assert server.proc.poll() is None, f"server exited {server.proc.returncode} after SIGHUP"
            return text[len(before):]
        assert server.proc.poll() is None, f"server exited {server.proc.returncode} after SIGHUP: {text[-2000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no {marker!r} within {WAIT}s of SIGHUP: {log_text(server)[-2000:]}")


def reload_records(server: Server) -> list[dict]:
    return [r for r in server.audit_rows() if r["operation"] == "server.reload"]


def details(record: dict) -> dict:
    return json.loads(record["details"]) if record.get("details") else {}


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    server_ca = Identity(d, "server-ca", ca=True, days=(-10, 365))
    return {
        "dir": d,
        "server_ca": server_ca,
        "servers": [Identity(d, f"server-{i}", server_ca, server=True) for i in range(2)],
        "clients": [Identity(d, f"client-{i}") for i in range(2)],
    }


def test_sighup_reloads_what_it_can_and_never_kills(custos, pki):
    live = pki["dir"] / "live"
    live.mkdir()
    cert, key = live / "server.crt", live / "server.key"
    cert.write_bytes(pki["servers"][0].cert_pem)
    key.write_bytes(pki["servers"][0].key_pem)
    first, second = pki["clients"]
    # The poll is slowed to an hour, so only the SIGHUP can make a change visible.
    tls = {"certificate": str(cert), "private_key": str(key), "client_pins": [first.spki_pin], "reload_interval_ms": 3_600_000}
    server = Server(custos, config={"tls": tls, "log": {"level": "info"}}).start()
    config = json.loads(server.config_path.read_text())

    def write(changes: dict | None = None, raw: str | None = None) -> None:
        if raw is not None:
            server.config_path.write_text(raw)
            return
        for section, values in (changes or {}).items():
            config.setdefault(section, {}).update(values)
        server.config_path.write_text(json.dumps(config))

    try:
        assert handshake(server, pki, first) == (pki["servers"][0].serial, 200)
        with pytest.raises(Exception):
            handshake(server, pki, second)
        def tenants(token: str) -> int:
            # verify given per request: a Session's own verify loses to $REQUESTS_CA_BUNDLE.
            return requests.get(server.url + "/v1/tenants", headers={"Authorization": f"Bearer {token}"}, cert=first.pair,
                                verify=str(pki["server_ca"].cert_path), timeout=10).status_code

        admin = server.token("admin")
        assert tenants(admin) == 200

        # 1. Log level and format: debug JSON lines from the reload on.
        write({"log": {"level": "debug", "format": "json"}})
        after = hangup(server, "configuration reloaded")
        lines = [line for line in after.splitlines() if line.strip()]
        reloaded = [json.loads(line) for line in lines]  # every line after the reload is JSON
        line = next(entry for entry in reloaded if entry["message"] == "configuration reloaded")
        assert line["metadata"]["changed"] == "log.format,log.level"
        assert line["level"] == "notice" and line["label"] == "custos.server"
        record = reload_records(server)[-1]
        assert record["outcome"] == "success" and record["actor"] == "server"
        assert details(record)["changed"] == "log.format,log.level"

        # 2. Rotated TLS files and a new pin, taken at the SIGHUP (the poll is an hour away).
        replace(cert, pki["servers"][1].cert_pem)
        replace(key, pki["servers"][1].key_pem)
        write({"tls": {"client_pins": [first.spki_pin, second.spki_pin]}})
        hangup(server, "configuration reloaded")
        assert handshake(server, pki, second) == (pki["servers"][1].serial, 200)
        assert details(reload_records(server)[-1])["changed"] == "tls.client_pins"

        # 3. A token revoked by another process: refused at the first request after the reload.
        revoked = server.token("admin")
        assert tenants(revoked) == 200
        custos.run("token", "revoke", revoked[4:20])
        hangup(server, "configuration reloaded")
        assert tenants(revoked) == 401

        # 4. A key that needs a restart: named, and the old value keeps running.
        write({"server": {"port": 1}, "log": {"level": "info"}})
        after = hangup(server, "restart needed for")
        assert "restart needed for: server.port" in after
        assert handshake(server, pki, first)[1] == 200
        assert details(reload_records(server)[-1]) == {"changed": "log.level", "restart_needed": "server.port"}

        # 5. Bad configurations are refused whole; the running one stays.
        for bad, cause in [
            ('{"server": {"port": ', "is not valid JSON"),
            (json.dumps({**config, "tls": {**config["tls"], "prot": 1}}), 'unknown configuration key "tls.prot"'),
            (json.dumps({**config, "tls": {**config["tls"], "certificate": "/nonexistent/server.crt"},
                         "log": {"level": "trace", "format": "text"}}),
             "cannot read TLS certificate /nonexistent/server.crt: no such file"),
        ]:
            write(raw=bad)
            after = hangup(server, "configuration reload refused")
            refusal = [json.loads(line) for line in after.splitlines() if "configuration reload refused" in line][-1]
            assert cause in refusal["metadata"]["error"], refusal
            assert handshake(server, pki, second) == (pki["servers"][1].serial, 200)
            record = reload_records(server)[-1]
            assert record["outcome"] == "failure" and cause in details(record)["error"]
        assert len(reload_records(server)) == 7
        # From the first reload on, every line is JSON; the refused level (trace) and format
        # (text) of the last file were never applied.
        lines = log_text(server).splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("{"))
        entries = [json.loads(line) for line in lines[start:]]
        last_refusal = max(i for i, entry in enumerate(entries) if entry["message"].startswith("configuration reload refused"))
        assert not any(entry["level"] in ("trace", "debug") for entry in entries[last_refusal:])
    finally:
        status = server.stop(signal.SIGTERM)
    assert status == 0, log_text(server)[-2000:]
    assert "audit checkpoint signed" in log_text(server)  # the final checkpoint at shutdown


def test_json_logs_keep_hostile_values_on_one_line(custos):
    server = Server(custos, config={"log": {"level": "trace", "format": "json"}}).start()
    try:
        admin = server.token("admin")
        hostile = "evil\n\x1b[2J\x1b]0;title\x07\u202e"
        for path in [f"/v1/tenants/{custos.tenant}/keys/{requests.utils.quote(hostile)}", "/v1/tenants/%0a%1b%5b2J"]:
            server.call("GET", path, token=admin)
        server.call("POST", f"/v1/tenants/{custos.tenant}/keys", token=admin, body={"alias": hostile, "scheme": "ed25519"})
    finally:
        assert server.stop() == 0
    raw = server.log_path.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw and "\u202e".encode() not in raw
    lines = raw.decode().splitlines()
    assert len(lines) > 5
    for line in lines:
        entry = json.loads(line)
        assert set(entry) >= {"time", "level", "label", "message", "source"}, entry
        assert entry["time"].endswith("Z") and len(entry["time"]) == len("2026-12-02T12:00:00.123456Z"), entry
    assert any(json.loads(line)["message"] == "listening" for line in lines)
    assert custos.secrets[0] not in raw.decode()


def test_configuration_and_file_errors_name_the_key_and_file(custos, tmp_path):
    cases = [
        ({"server": {"host": "127.0.0.1", "port": 0, "prot": 9000}}, 'unknown configuration key "server.prot"', '(did you mean "server.port"?)'),
        ({"prot": 9000}, 'unknown configuration key "prot"', '(did you mean "server.port"?)'),
        ({"server": {"port": "8700"}}, '"server.port"', "must be an integer, got a string"),
        ({"log": {"format": "xml"}}, "log.format must be text or json", ""),
        ({"tls": {"certificate": "/nonexistent/server.crt", "private_key": "/nonexistent/server.key"}},
         "cannot read TLS certificate /nonexistent/server.crt: no such file", ""),
    ]
    for config, message, hint in cases:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(config))
        res = custos.run("serve", "--config", path, expect=2)
        assert message in res.err and hint in res.err, res.err
        assert "failedToLoad" not in res.err
    res = custos.run("serve", "--config", tmp_path / "missing.json", expect=2)
    assert res.err.strip() == f"error: cannot read configuration file {tmp_path / 'missing.json'}: no such file"
    # A variable that looks like a key but names none is a warning; the server starts.
    server = Server(custos, env={"CUSTOS_SERVER_PROT": "9000"}).start()
    try:
        assert "unknown configuration variable CUSTOS_SERVER_PROT is ignored (did you mean CUSTOS_SERVER_PORT?)" in log_text(server)
    finally:
        assert server.stop() == 0


def test_local_only_commands_refuse_server(custos):
    for args in (["root", "status"], ["root", "check"], ["audit", "checkpoint"], ["init"], ["serve"]):
        res = custos.run(*args, "--server", "http://127.0.0.1:1", "--token", "cst_x", expect=2)
        assert "works on a local data directory or offline, not through --server" in res.err, res.err
    res = custos.run("tenant", "list", "--server", "http://127.0.0.1:1", "--token", "cst_x", expect=2)
    assert "cannot reach the Custos server" in res.err
