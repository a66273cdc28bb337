"""Someone with write access to the data directory (SQLite file and the files beside
it) but no passphrase tries to hide audit records. `custos audit verify` must name each
attempt (exit 1), or the attempt is the limit docs/security.md states."""

from __future__ import annotations

import http.server
import json
import shutil
import sqlite3
import threading
import time

import pytest

from custos_cli import edit_database as sql
from server import Server, b64

T = "acme"
MARK = "custos.sqlite.audit-mark"



def scalar(custos, query: str):
    db = sqlite3.connect(custos.data_dir / "custos.sqlite")
    try:
        return db.execute(query).fetchone()[0]
    finally:
        db.close()


def findings(custos, env: dict | None = None) -> tuple[int, list[tuple[str, int]]]:
    result = custos.run("audit", "verify", "--json", expect=None, env=env)
    assert result.code in (0, 1), f"verify failed instead of reporting: {result.err[-500:]}"
    return result.code, [(f["kind"], f["sequence"]) for f in result.json()["findings"]]


def history(custos, env: dict | None = None) -> int:
    """Some audited work and two explicit checkpoints; returns the first one's sequence."""
    custos.run("key", "generate", "--tenant", T, "--alias", "k", "--scheme", "ed25519", env=env)
    custos.run("audit", "checkpoint", env=env)
    first = scalar(custos, "SELECT MAX(sequence) FROM audit_checkpoints")
    for index in range(3):
        custos.run("sign", "--tenant", T, "--key", "k", "--message-file", custos.file(f"m{index}"), env=env)
    custos.run("audit", "checkpoint", env=env)
    assert scalar(custos, "SELECT MAX(sequence) FROM audit_checkpoints") > first
    assert findings(custos, env) == (0, [])
    return first


# Each case: statements run on the database after `history`, the finding kind expected.
CASES = {
    "tail-truncation": (["DELETE FROM audit_records WHERE sequence > {first}",
                         "DELETE FROM audit_checkpoints WHERE sequence > {first}"], "rolled-back"),
    "full-wipe": (["DELETE FROM audit_records", "DELETE FROM audit_checkpoints"], "rolled-back"),
    "checkpoints-deleted": (["DELETE FROM audit_checkpoints"], "rolled-back"),
    "checkpoint-time": (["UPDATE audit_checkpoints SET time = time - 86400"], "bad-checkpoint"),
    "checkpoint-signer": (["UPDATE audit_checkpoints SET signer_fingerprint = 'SHA256:forged'"], "bad-checkpoint"),
    "checkpoint-sequence": (["UPDATE audit_checkpoints SET sequence = sequence + 1000 WHERE sequence = {first}"], "bad-checkpoint"),
    "checkpoint-head": (["UPDATE audit_checkpoints SET head_hash = zeroblob(32) WHERE sequence = {first}"], "bad-checkpoint"),
    "sequence-zero": (["INSERT INTO audit_records SELECT 0, time_us, actor, tenant_id, operation, key_id, key_version, outcome, "
                       "details, previous_hash, hash FROM audit_records WHERE sequence = 2"], "out-of-range"),
    "sequence-negative": (["UPDATE audit_records SET sequence = -7 WHERE sequence = 1"], "out-of-range"),
    "unreadable-cell": (["UPDATE audit_records SET time_us = 'yesterday' WHERE sequence = 2"], "unreadable"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_tampering_is_a_finding(custos, case):
    first = history(custos)
    statements, kind = CASES[case]
    sql(custos, *(s.format(first=first) for s in statements))
    code, found = findings(custos)
    assert code == 1 and kind in [k for k, _ in found], found
    assert "yesterday" not in json.dumps(found)


def test_truncate_then_append_and_checkpoint_is_refused(custos):
    first = history(custos)
    sql(custos, f"DELETE FROM audit_records WHERE sequence > {first}",
        f"DELETE FROM audit_checkpoints WHERE sequence > {first}")
    custos.run("sign", "--tenant", T, "--key", "k", "--message-file", custos.file("after"))
    refused = custos.run("audit", "checkpoint", expect=None)
    assert refused.code != 0 and "rolled back" in refused.err
    code, found = findings(custos)
    assert code == 1 and "rolled-back" in [k for k, _ in found], found


@pytest.mark.parametrize("change", ["delete", "garbage", "other-directory"])
def test_the_high_water_mark_file_is_checked(custos, custos_bin, tmp_path, change):
    history(custos)
    mark = custos.data_dir / MARK
    assert mark.is_file()
    if change == "delete":
        mark.unlink()
    elif change == "garbage":
        mark.write_text('{"format":"custos-audit-mark","version":1,"sequence":1,"head":"00","time_us":0,"mac":"00"}\n')
    else:
        from custos_cli import Custos
        other = Custos(custos_bin, tmp_path / "other")
        other.run("init", "--scrypt-log-n", "10")
        shutil.copy(other.data_dir / MARK, mark)
    code, found = findings(custos)
    assert code == 1 and [k for k, _ in found] == ["bad-mark"], found
    # Checkpoints stay refused until the operator resets the mark, knowingly.
    assert custos.run("audit", "checkpoint", expect=None).code != 0
    custos.run("audit", "checkpoint", "--reset-mark")
    assert findings(custos) == (0, [])


def rollback(custos, env: dict | None = None) -> None:
    """Copies the whole data directory, does more work, and puts the copy back."""
    history(custos, env)
    saved = custos.workdir / "saved"
    shutil.copytree(custos.data_dir, saved)
    custos.run("sign", "--tenant", T, "--key", "k", "--message-file", custos.file("later"), env=env)
    custos.run("key", "rotate", "--tenant", T, "k", env=env)
    shutil.rmtree(custos.data_dir)
    shutil.copytree(saved, custos.data_dir)


def test_a_whole_directory_rollback_without_a_sink_is_the_documented_limit(custos):
    rollback(custos)
    assert findings(custos) == (0, [])


def test_a_whole_directory_rollback_is_caught_by_a_file_sink(custos):
    sink = custos.workdir / "offnode" / "head.json"
    sink.parent.mkdir()
    env = dict(custos.env, CUSTOS_AUDIT_SINK=str(sink))
    rollback(custos, env)
    head = json.loads(sink.read_text())
    assert head["format"] == "custos-audit-head" and head["sequence"] > 0
    code, found = findings(custos, env)
    assert code == 1 and "rolled-back" in [k for k, _ in found], found
    refused = custos.run("audit", "checkpoint", expect=None, env=env)
    assert refused.code != 0
    assert json.loads(sink.read_text())["sequence"] == head["sequence"], "the sink's head moved back"


class HeadStore(http.server.BaseHTTPRequestHandler):
    """An off-node head service: keeps the highest head POSTed, returns it on GET."""
    head: bytes | None = None
    posts = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sequence = json.loads(body)["sequence"]
        if HeadStore.head is None or json.loads(HeadStore.head)["sequence"] <= sequence:
            HeadStore.head = body
        HeadStore.posts += 1
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        if HeadStore.head is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(HeadStore.head)

    def log_message(self, *args):
        pass


def test_the_server_ships_heads_to_a_url_sink_and_verification_checks_it(custos):
    HeadStore.head, HeadStore.posts = None, 0
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeadStore)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/head"
        env = dict(custos.env, CUSTOS_AUDIT_SINK=url, CUSTOS_AUDIT_SINK_ALLOW_HTTP_LOOPBACK="true")
        # Plain http without the test setting is refused at start.
        refused = Server(custos, env={"CUSTOS_AUDIT_SINK": url})
        with pytest.raises(AssertionError):
            refused.start(timeout=30)
        refused.stop()
        refused.log.close()
        saved = custos.workdir / "saved"
        shutil.copytree(custos.data_dir, saved)
        server = Server(custos, env=env).start()
        admin = server.token("admin")
        server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
        assert server.call("POST", f"/v1/tenants/{T}/keys/k/sign", admin, {"message": b64(b"m")}).status_code == 200
        assert server.stop() == 0  # the final checkpoint is shipped
        assert HeadStore.posts >= 1 and json.loads(HeadStore.head)["sequence"] > 0
        assert findings(custos, env) == (0, [])
        shutil.rmtree(custos.data_dir)
        shutil.copytree(saved, custos.data_dir)
        assert findings(custos) == (0, []), "documented: without the sink the older directory looks whole"
        code, found = findings(custos, env)
        assert code == 1 and "rolled-back" in [k for k, _ in found], found
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_verification_over_http_stops_at_the_request_deadline(custos):
    """Rows that fail their seal are expensive to place; a log full of them must not
    hold a request past its deadline."""
    custos.run("key", "generate", "--tenant", T, "--alias", "k", "--scheme", "ed25519")
    head = scalar(custos, "SELECT MAX(sequence) FROM audit_records")
    sql(custos, *(f"INSERT INTO audit_records VALUES ({head + 10 + i}, 0, 'x', NULL, 'sign', NULL, NULL, 'success', '{{}}', "
                  f"zeroblob(32), randomblob(32))" for i in range(400)))
    server = Server(custos, config={"server": {"request_timeout_seconds": 1}}).start()
    try:
        admin = server.token("admin")
        started = time.monotonic()
        response = server.call("POST", "/v1/audit/verify", admin)
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.json()["code"] == "timeout", response.text[:300]
        assert elapsed < 8, f"answered after {elapsed:.1f}s"
    finally:
        assert server.stop() == 0
