"""A hostile client of the HTTP API, and an operator reading what it left behind.

Names refuse control and bidi characters, free text has length limits, every line
`custos` prints for a terminal is escaped, and the smaller faults of request parsing
(base64, duplicate keys, the bearer scheme, percent-encoded aliases, malformed batch
items) are answered item by item with clear errors."""

from __future__ import annotations

import json
import os
import re
import sqlite3

import pytest

from server import Server, b64, problem, unb64

T = "acme"
# Every character a terminal may act on: C0 and C1 controls, DEL, bidi controls.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HOSTILE = ["line\nforged 1 cli acme generate success", "\x1b]0;pwned\x07", "\x1b[2J", "nul\x00byte", "rtl\u202etxt.exe", "tab\there", "c1\x9bq"]


def no_raw_controls(text: str, where: str):
    found = UNSAFE.search(text)
    assert found is None, f"{where}: raw {found.group()!r} in {text[max(0, found.start() - 40):found.end() + 40]!r}"


def key_count(server, token) -> int:
    return len(server.call("GET", f"/v1/tenants/{T}/keys", token).json()["keys"])


def test_control_and_bidi_characters_and_oversized_text_are_refused_at_input(server):
    admin = server.token("admin")
    keys_before = key_count(server, admin)
    tokens_before = len(server.call("GET", "/v1/tokens", admin).json()["tokens"])
    for value in HOSTILE:
        problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519", "labels": {"l": value}}), 400, "invalid-argument")
        problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519", "external_id": value}), 400, "invalid-argument")
        problem(server.call("POST", "/v1/tokens", admin, {"role": "auditor", "ttl_seconds": 60, "description": value}), 400, "invalid-argument")
        problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": value, "scheme": "ed25519"}), 400, "invalid-name")
    # Length limits on every free-text field.
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519", "external_id": "e" * 257}), 400, "invalid-argument")
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519", "labels": {"l": "v" * 257}}), 400, "invalid-argument")
    problem(server.call("POST", "/v1/tokens", admin, {"role": "auditor", "ttl_seconds": 60, "description": "d" * 201}), 400, "invalid-argument")
    problem(server.call("GET", f"/v1/tenants/{T}/keys", admin, params={"alias_prefix": "\x1b[2J"}), 400)
    # Nothing was created, and the limits themselves are accepted.
    assert key_count(server, admin) == keys_before
    assert len(server.call("GET", "/v1/tokens", admin).json()["tokens"]) == tokens_before
    ok = server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519", "external_id": "é" * 128, "labels": {"l": "v" * 256}})
    assert ok.status_code == 201, ok.text
    assert server.call("POST", "/v1/tokens", admin, {"role": "auditor", "ttl_seconds": 60, "description": "d" * 200}).status_code == 201


def test_a_signer_cannot_forge_lines_in_the_audit_listing(server):
    admin = server.token("admin")
    signer = server.token("signer", T)
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
    items = [{"alias": value, "message": b64(b"m")} for value in HOSTILE] + [{"alias": "k", "message": b64(b"m")}]
    r = server.call("POST", f"/v1/tenants/{T}/sign", signer, {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert all(result["error"]["code"] == "invalid-name" for result in results[:-1]) and "result" in results[-1]
    for row in server.audit_rows():
        no_raw_controls(json.dumps(row, default=str, ensure_ascii=False), f"audit record {row['sequence']}")
    listing = server.custos.run("audit", "list", "--limit", "1000")
    no_raw_controls(listing.out, "custos audit list")
    assert "forged 1 cli" not in listing.out.split("\n")[0]
    assert len(listing.out.strip().splitlines()) == len(server.audit_rows())


def tamper(custos, statement: str, *args):
    db = sqlite3.connect(custos.data_dir / "custos.sqlite")
    try:
        db.execute(statement, args)
        db.commit()
    finally:
        db.close()


def test_everything_printed_for_a_terminal_is_escaped(server):
    """Rows written behind Custos's back (a restored snapshot, a host user) still print
    escaped: `key show`, `key list`, `token list` and `audit list`, local and remote."""
    custos = server.custos
    admin = server.token("admin")
    custos.generate("shown", "ed25519")
    # (SQLite text ends at a NUL, so none here: NUL is refused at input, above.)
    hostile = "ok\n9999\tforged\x1b]8;;http://evil\x07link\x1b[0m\u202eevil\x9b\x7f"
    tamper(custos, "UPDATE keys SET labels = ?, external_id = ? WHERE alias = 'shown'", json.dumps({"note": hostile}), hostile)
    tamper(custos, "UPDATE api_tokens SET description = ?", hostile)
    tamper(custos, "UPDATE audit_records SET details = ?, actor = ? WHERE sequence = 1", json.dumps({"alias": hostile}), hostile)
    remote_env = dict(custos.env, CUSTOS_SERVER=server.url, CUSTOS_TOKEN=admin)
    remote_env.pop("CUSTOS_PASSPHRASE")
    for env in (None, remote_env):
        for args in (["key", "show", "--tenant", T, "shown"], ["key", "list", "--tenant", T], ["token", "list"],
                     ["audit", "list", "--limit", "5"]):
            if env is not None and args[0] == "token":
                continue  # token listing is served by the same code; its remote form needs its own admin row
            result = custos.run(*args, env=env, expect=None)
            no_raw_controls(result.out + result.err, " ".join(args))
            if args[:2] != ["key", "list"]:
                assert result.code == 0, result.err
                assert "\\n9999\\tforged\\x1b]8;;http://evil\\x07link\\x1b[0m\\u{202E}evil\\x9b\\x7f" in result.out, (args, result.out)
        # --json output keeps the exact value, with every unsafe character as a JSON escape.
        shown = custos.run("key", "show", "--tenant", T, "shown", "--json", env=env)
        no_raw_controls(shown.out, "key show --json")
        assert shown.json()["external_id"] == hostile and shown.json()["labels"] == {"note": hostile}
        listed = custos.run("audit", "list", "--limit", "1", "--json", env=env)
        no_raw_controls(listed.out, "audit list --json")
        assert listed.json_lines()[0]["details"] == {"alias": hostile} and listed.json_lines()[0]["actor"] == hostile


def test_errors_that_echo_a_value_are_escaped(custos):
    err = custos.fails("key", "show", "--tenant", T, "bad\x1b[2Jalias")
    no_raw_controls(err, "error line")
    assert "\\x1b[2J" in err


def test_batch_verification_lines_stay_json_and_safe(verifier):
    """`verify --batch` echoes each line's id: as JSON, with unsafe characters escaped."""
    ids = ["rtl\u202eid", "c1\x9bid", "esc\x1b[2Jid", "nl\nid"]
    lines = [json.dumps({"id": i, "scheme": "ed25519", "public_key": "00" * 32, "message": "00", "signature": "00" * 64}) for i in ids]
    result = verifier.run("verify", "--batch", verifier.file("\n".join(lines) + "\n", ".jsonl"), expect=None)
    no_raw_controls(result.out, "verify --batch")
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == ids


def test_rsa_bits_out_of_range_is_a_clear_refusal_and_audited(server):
    admin = server.token("admin")
    for bits in (0, 1, -1, 1024, 2049, 8192):
        before = len(server.audit_rows())
        problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "r", "scheme": "rsa-pss-sha256", "rsa_bits": bits}),
                400, "unsupported-key-size")
        records = server.audit_rows()[before:]
        assert [(r["operation"], r["outcome"], json.loads(r["details"])["error"]) for r in records] == \
            [("generate", "failure", "unsupported-key-size")], records
    assert server.call("GET", f"/v1/tenants/{T}/keys/r", admin).status_code == 404


def test_proof_of_possession_is_a_signer_operation(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "bls", "scheme": "bls12381-pop"})
    for role in ("operator", "auditor"):
        problem(server.call("POST", f"/v1/tenants/{T}/keys/bls/pop", server.token(role, T)), 403, "forbidden")
    r = server.call("POST", f"/v1/tenants/{T}/keys/bls/pop", server.token("signer", T))
    assert r.status_code == 200 and len(unb64(r.json()["proof_of_possession"])) == 96, r.text


def test_aliases_with_a_slash_are_reachable(server):
    admin = server.token("admin")
    assert server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "node/1:a", "scheme": "ed25519"}).status_code == 201
    assert server.call("GET", f"/v1/tenants/{T}/keys/node%2F1%3Aa", admin).json()["alias"] == "node/1:a"
    signed = server.call("POST", f"/v1/tenants/{T}/keys/node%2F1:a/sign", admin, {"message": b64(b"m")})
    assert signed.status_code == 200 and signed.json()["alias"] == "node/1:a", signed.text
    assert server.call("GET", f"/v1/tenants/{T}/keys/node%2F1:a/public", admin).status_code == 200
    # Decoding never makes a name out of something the rule refuses.
    for alias in ("node%2F%0A1", "a%0Ab", "%ZZ", "a%2", "a%252Fb"):
        problem(server.call("GET", f"/v1/tenants/{T}/keys/{alias}", admin), 400, "invalid-name")
    # The same through client mode.
    env = dict(server.custos.env, CUSTOS_SERVER=server.url, CUSTOS_TOKEN=admin)
    env.pop("CUSTOS_PASSPHRASE")
    shown = server.custos.run("key", "show", "--tenant", T, "node/1:a", "--json", env=env).json()
    assert shown["alias"] == "node/1:a"
    assert server.custos.run("sign", "--tenant", T, "--key", "node/1:a", "--message-hex", "00", env=env).out.strip()


def test_malformed_batch_items_fail_alone(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
    items = [{"alias": "k", "message": b64(b"one")}, {"alias": "k"}, {"alias": 5, "message": b64(b"x")}, "not an object",
             {"alias": "k", "message": b64(b"two"), "format": 7}, {"alias": "k", "message": b64(b"three")}]
    r = server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [("result" in x) for x in results] == [True, False, False, False, False, True]
    for index in (1, 2, 3, 4):
        assert results[index]["error"]["code"] == "invalid-request" and f"items[{index}]" in results[index]["error"]["detail"], results[index]
    signature = results[0]["result"]["signature"]
    checked = server.call("POST", f"/v1/tenants/{T}/verify", admin, {"items": [
        {"alias": "k", "message": b64(b"one"), "signature": signature}, {"alias": "k", "message": b64(b"one")}, None]})
    assert checked.status_code == 200, checked.text
    results = checked.json()["results"]
    assert results[0]["result"]["valid"] is True
    assert results[1]["error"]["code"] == "invalid-request" and results[2]["error"]["code"] == "invalid-request"
    # The request itself must still be a batch.
    problem(server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": "nope"}), 400, "invalid-request")
    problem(server.call("POST", f"/v1/tenants/{T}/sign", admin, {}), 400, "invalid-request")


def test_non_canonical_base64_and_duplicate_keys_are_refused(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "aes", "scheme": "aes-256-gcm"})
    sign = f"/v1/tenants/{T}/keys/k/sign"
    for text in ("aGVsbG9=", "aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "aGVsbA=="[:-1] + "=" * 2 + "=="):
        body = problem(server.call("POST", sign, admin, {"message": text}), 400, "invalid-request")
        assert "base64" in body["detail"]
    assert server.call("POST", sign, admin, {"message": "aGVsbG8="}).status_code == 200
    problem(server.call("POST", f"/v1/tenants/{T}/keys/aes/encrypt", admin, {"plaintext": "aGVsbG9="}), 400, "invalid-request")
    duplicates = [
        (sign, b'{"message":"aGVsbG8=","message":"eA=="}'),
        (sign, b'{"message":"aGVsbG8=","\\u006dessage":"eA=="}'),
        (sign, b'{"message":"aGVsbG8=","format":null,"format":"der"}'),
        (f"/v1/tenants/{T}/sign", b'{"items":[{"alias":"k","message":"eA==","alias":"x"}]}'),
        (f"/v1/tenants/{T}/keys", b'{"alias":"d","scheme":"ed25519","labels":{"a":"1","a":"2"}}'),
        ("/v1/tokens", b'{"role":"auditor","role":"admin","ttl_seconds":60}'),
    ]
    for path, raw in duplicates:
        body = problem(server.call("POST", path, admin, raw=raw), 400, "invalid-request")
        assert "duplicate" in body["detail"], body
    assert server.call("GET", f"/v1/tenants/{T}/keys/d", admin).status_code == 404


def test_the_bearer_scheme_name_is_case_insensitive(server):
    admin = server.token("admin")
    for scheme in ("bearer", "BEARER", "BeArEr"):
        r = server.call("GET", "/v1/tenants", headers={"Authorization": f"{scheme} {admin}"})
        assert r.status_code == 200, (scheme, r.text)
    for header in (f"Basic {admin}", f"Bearer{admin}", f"Bearerx {admin}", admin):
        problem(server.call("GET", "/v1/tenants", headers={"Authorization": header}), 401, "unauthenticated")


def test_a_token_never_outlives_the_token_that_made_it(server):
    short = server.token("admin", ttl="60s")
    problem(server.call("POST", "/v1/tokens", short, {"role": "signer", "tenant": T, "ttl_seconds": 3600}), 400, "invalid-argument")
    made = server.call("POST", "/v1/tokens", short, {"role": "signer", "tenant": T, "ttl_seconds": 30})
    assert made.status_code == 201, made.text


def environment_of(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return handle.read()


def test_secrets_are_cleared_from_the_servers_environment(custos):
    secrets = {"CUSTOS_HSM_PIN_NOPE": "pin-not-a-secret-1234", "AWS_SECRET_ACCESS_KEY": "aws-not-a-secret-5678",
               "CUSTOS_TOKEN": "cst_not_a_token_9abc"}
    server = Server(custos, env=secrets).start()
    try:
        environment = environment_of(server.proc.pid)
        for name, value in [("CUSTOS_PASSPHRASE", custos.env["CUSTOS_PASSPHRASE"]), *secrets.items()]:
            assert name.encode() + b"=" not in environment, name
            assert value.encode() not in environment, name
        assert b"CUSTOS_DATA_DIR=" in environment  # not a secret: left alone
        admin = server.token("admin")
        assert server.call("GET", "/v1/tenants", admin).status_code == 200
    finally:
        server.stop()
