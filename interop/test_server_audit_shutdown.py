"""Audit tampering seen by `custos audit verify`, and graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import signal
import sqlite3
import time

import pytest

from custos_cli import edit_database as tamper
from server import Server, b64

T = "acme"


def activity(server: Server) -> None:
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
    for index in range(6):
        assert server.call("POST", f"/v1/tenants/{T}/keys/k/sign", admin, {"message": b64(f"m{index}".encode())}).status_code == 200
    server.call("POST", f"/v1/tenants/{T}/keys/k/rotate", admin)



def verify(custos) -> tuple[int, list[dict]]:
    result = custos.run("audit", "verify", "--json", expect=None)
    return result.code, result.json()["findings"]


@pytest.mark.parametrize("case", ["edit", "delete", "insert", "reorder"])
def test_audit_verify_names_each_kind_of_tampering(server, case):
    activity(server)
    assert server.stop() == 0
    custos = server.custos
    code, findings = verify(custos)
    assert code == 0 and findings == []
    rows = server.audit_rows()
    target = rows[5]["sequence"]
    if case == "edit":
        tamper(custos, f"UPDATE audit_records SET outcome = 'failure' WHERE sequence = {target}")
        expected = ("edited", target)
    elif case == "delete":
        tamper(custos, f"DELETE FROM audit_records WHERE sequence = {target}")
        expected = ("deleted", target)
    elif case == "insert":
        previous = rows[4]
        tamper(custos,
               f"UPDATE audit_records SET sequence = sequence + 1000 WHERE sequence >= {target}",
               f"UPDATE audit_records SET sequence = sequence - 999 WHERE sequence >= {target + 1000}",
               "INSERT INTO audit_records (sequence, time_us, actor, tenant_id, operation, key_id, key_version, outcome, details, previous_hash, hash) "
               f"VALUES ({target}, {previous['time_us'] + 1}, 'cli', 'acme', 'destroy', NULL, NULL, 'success', '{{}}', "
               f"x'{previous['hash'].hex()}', x'{'00' * 32}')")
        expected = ("inserted", target)
    else:
        tamper(custos,
               f"UPDATE audit_records SET sequence = -1 WHERE sequence = {target}",
               f"UPDATE audit_records SET sequence = {target} WHERE sequence = {target + 1}",
               f"UPDATE audit_records SET sequence = {target + 1} WHERE sequence = -1")
        expected = ("reordered", target)
    code, findings = verify(custos)
    assert code == 1, findings
    assert (findings[0]["kind"], findings[0]["sequence"]) == expected, findings
    text = custos.run("audit", "verify", expect=1).out
    assert f"record {target}: {expected[0]}" in text and "TAMPERED" in text


def test_graceful_shutdown_finishes_requests_in_flight(server):
    admin = server.token("admin")
    # RSA-4096 generation takes long enough to still be running when SIGTERM arrives.
    def generate(index: int):
        return server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": f"slow{index}", "scheme": "rsa-pss-sha256", "rsa_bits": 4096})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(generate, index) for index in range(4)]
        time.sleep(0.3)
        assert not all(future.done() for future in futures), "requests finished before the signal; nothing was in flight"
        server.proc.send_signal(signal.SIGTERM)
        responses = [future.result() for future in futures]
    assert [r.status_code for r in responses] == [201] * 4, [r.text[:200] for r in responses]
    assert server.proc.wait(timeout=60) == 0
    # New connections are refused once it has stopped; the store was closed cleanly
    # and a final checkpoint signed the chain head.
    with pytest.raises(Exception):
        server.call("GET", "/v1/health/live")
    custos = server.custos
    assert not (custos.data_dir / "custos.sqlite-wal").exists() or (custos.data_dir / "custos.sqlite-wal").stat().st_size == 0
    rows = server.audit_rows()
    assert sum(1 for row in rows if row["operation"] == "generate") == 4
    db = sqlite3.connect(custos.data_dir / "custos.sqlite")
    head = db.execute("SELECT MAX(sequence) FROM audit_checkpoints").fetchone()
    db.close()
    assert head[0] == rows[-1]["sequence"]
    code, findings = verify(custos)
    assert code == 0 and findings == []


def test_truncation_after_a_checkpoint_is_named(server):
    activity(server)
    assert server.stop() == 0  # signs a final checkpoint
    custos = server.custos
    last = server.audit_rows()[-1]["sequence"]
    tamper(custos, f"DELETE FROM audit_records WHERE sequence >= {last - 1}")
    code, findings = verify(custos)
    assert code == 1 and findings[0]["kind"] == "truncated" and findings[0]["sequence"] == last - 1
