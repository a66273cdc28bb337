"""The HTTP API end to end, checked against independent implementations."""

from __future__ import annotations

import concurrent.futures
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server import Server, b64, problem, unb64

T = "acme"


def test_generate_sign_verify_rotate(server):
    admin = server.token("admin")
    r = server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "node-key", "scheme": "ecdsa-p256-sha256", "labels": {"role": "consensus"}})
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["scheme"] == "ecdsa-p256-sha256" and key["primary_version"] == 1 and key["labels"] == {"role": "consensus"}

    pem = server.call("GET", f"/v1/tenants/{T}/keys/node-key/public", admin, params={"format": "pem"}).json()["public_key"]
    public = serialization.load_pem_public_key(pem.encode())
    message = b"block 17: transfer 10 units"
    signed = server.call("POST", f"/v1/tenants/{T}/keys/node-key/sign", admin, {"message": b64(message)}).json()
    public.verify(unb64(signed["signature"]), message, ec.ECDSA(hashes.SHA256()))  # raises if invalid
    assert signed["version"] == 1 and signed["key_id"] == key["id"]

    ok = server.call("POST", f"/v1/tenants/{T}/keys/node-key/verify", admin, {"message": b64(message), "signature": signed["signature"]})
    assert ok.json() == {"valid": True, "version": 1}
    bad = server.call("POST", f"/v1/tenants/{T}/keys/node-key/verify", admin, {"message": b64(message + b"!"), "signature": signed["signature"]})
    assert bad.json()["valid"] is False

    rotated = server.call("POST", f"/v1/tenants/{T}/keys/node-key/rotate", admin).json()
    assert rotated["primary_version"] == 2 and len(rotated["versions"]) == 2
    again = server.call("POST", f"/v1/tenants/{T}/keys/node-key/verify", admin, {"message": b64(message), "signature": signed["signature"]})
    assert again.json() == {"valid": True, "version": 1}
    assert server.call("POST", f"/v1/tenants/{T}/keys/node-key/sign", admin, {"message": b64(message)}).json()["version"] == 2

    disabled = server.call("POST", f"/v1/tenants/{T}/keys/node-key/disable", admin).json()
    assert disabled["status"] == "disabled"
    problem(server.call("POST", f"/v1/tenants/{T}/keys/node-key/sign", admin, {"message": b64(message)}), 409, "key-disabled")
    server.call("POST", f"/v1/tenants/{T}/keys/node-key/enable", admin)
    destroyed = server.call("POST", f"/v1/tenants/{T}/keys/node-key/destroy", admin).json()
    assert destroyed["status"] == "destroyed"
    problem(server.call("POST", f"/v1/tenants/{T}/keys/node-key/sign", admin, {"message": b64(message)}), 409, "key-destroyed")


def test_public_key_formats_and_import(server, tmp_path):
    admin = server.token("admin")
    private = ec.generate_private_key(ec.SECP256K1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    server.custos.secrets.append(pem.splitlines()[1])
    r = server.call("POST", f"/v1/tenants/{T}/keys/import", admin, {"alias": "imported", "scheme": "ecdsa-secp256k1-sha256", "private_key": pem})
    assert r.status_code == 201, r.text
    der = server.call("GET", f"/v1/tenants/{T}/keys/imported/public", admin, params={"format": "der"}).json()["public_key"]
    expected = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert unb64(der) == expected
    jwk = server.call("GET", f"/v1/tenants/{T}/keys/imported/public", admin, params={"format": "jwk"}).json()["jwk"]
    assert jwk["kty"] == "EC" and jwk["crv"] == "secp256k1"
    problem(server.call("GET", f"/v1/tenants/{T}/keys/imported/public", admin, params={"format": "xml"}), 400, "invalid-request")
    problem(server.call("POST", f"/v1/tenants/{T}/keys/import", admin, {"alias": "bad", "scheme": "ed25519", "private_key": "not a key"}), 400)
    # Nothing was created by the refused import.
    assert server.call("GET", f"/v1/tenants/{T}/keys/bad", admin).status_code == 404


def test_listing_pages(server):
    admin = server.token("admin")
    for index in range(7):
        assert server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": f"k{index}", "scheme": "ed25519"}).status_code == 201
    seen, after = [], None
    while True:
        params = {"limit": 3} | ({"after": after} if after else {})
        page = server.call("GET", f"/v1/tenants/{T}/keys", admin, params=params).json()
        seen += [key["alias"] for key in page["keys"]]
        after = page.get("next")
        if not after:
            break
    assert seen == [f"k{index}" for index in range(7)]
    problem(server.call("GET", f"/v1/tenants/{T}/keys", admin, params={"limit": 0}), 400)


def test_encrypt_decrypt_and_hmac(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "data", "scheme": "aes-256-gcm"})
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "mac", "scheme": "hmac-sha256"})
    sealed = server.call("POST", f"/v1/tenants/{T}/keys/data/encrypt", admin, {"plaintext": b64(b"ledger secret"), "associated_data": b64(b"ctx")}).json()
    opened = server.call("POST", f"/v1/tenants/{T}/keys/data/decrypt", admin, {"ciphertext": sealed["ciphertext"], "associated_data": b64(b"ctx")})
    assert unb64(opened.json()["plaintext"]) == b"ledger secret"
    problem(server.call("POST", f"/v1/tenants/{T}/keys/data/decrypt", admin, {"ciphertext": sealed["ciphertext"], "associated_data": b64(b"other")}), 400, "invalid-ciphertext")
    mac = server.call("POST", f"/v1/tenants/{T}/keys/mac/hmac", admin, {"message": b64(b"m")}).json()
    assert server.call("POST", f"/v1/tenants/{T}/keys/mac/hmac", admin, {"message": b64(b"m"), "mac": mac["mac"]}).json()["valid"] is True
    assert server.call("POST", f"/v1/tenants/{T}/keys/mac/hmac", admin, {"message": b64(b"n"), "mac": mac["mac"]}).json()["valid"] is False
    problem(server.call("POST", f"/v1/tenants/{T}/keys/mac/sign", admin, {"message": b64(b"m")}), 400, "wrong-key-kind")


def test_batch_items_fail_alone(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "a", "scheme": "ed25519"})
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "b", "scheme": "ecdsa-p384-sha384"})
    items = [
        {"alias": "a", "message": b64(b"one")},
        {"alias": "missing", "message": b64(b"two")},
        {"alias": "b", "message": "%%% not base64"},
        {"alias": "b", "message": b64(b"three"), "format": "raw"},
        {"alias": "a", "message": b64(b"four"), "format": "sideways"},
    ]
    r = server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [entry["index"] for entry in body["results"]] == list(range(5))
    assert body["succeeded"] == 2 and body["failed"] == 3
    assert body["results"][1]["error"]["code"] == "key-not-found"
    assert body["results"][2]["error"]["code"] == "invalid-request"
    assert body["results"][4]["error"]["code"] == "invalid-request"
    assert len(unb64(body["results"][3]["result"]["signature"])) == 96  # raw P-384 r‖s
    # Verify them back in one batch, with one tampered message.
    verify_items = [
        {"alias": "a", "message": b64(b"one"), "signature": body["results"][0]["result"]["signature"]},
        {"alias": "b", "message": b64(b"three!"), "signature": body["results"][3]["result"]["signature"], "format": "raw"},
        {"alias": "nope", "message": b64(b"x"), "signature": b64(b"y")},
    ]
    checked = server.call("POST", f"/v1/tenants/{T}/verify", admin, {"items": verify_items}).json()["results"]
    assert checked[0]["result"]["valid"] is True
    assert checked[1]["result"]["valid"] is False
    assert checked[2]["error"]["code"] == "key-not-found"
    problem(server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": []}), 400)


def test_batch_signatures_verify_independently_and_are_audited_per_key(server):
    """A mixed batch, sent with the whitespace and escaped slashes any JSON library may
    write: every signature verifies under `cryptography`, and the audit log holds one
    record per key version with each message's HMAC, plus one per failed item."""
    import json
    import re
    from cryptography.hazmat.primitives.asymmetric import ed25519

    admin = server.token("admin")
    for alias, scheme in (("ed", "ed25519"), ("p256", "ecdsa-p256-sha256")):
        server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": alias, "scheme": scheme})
    publics = {alias: serialization.load_pem_public_key(
        server.call("GET", f"/v1/tenants/{T}/keys/{alias}/public", admin, params={"format": "pem"}).json()["public_key"].encode())
        for alias in ("ed", "p256")}
    # Bytes 0xfb 0xff encode to base64 with "/" in them, which the body escapes as "\/".
    messages = [bytes([0xFB, 0xFF, i]) * 3 for i in range(60)]
    items = [{"alias": "p256" if i % 4 == 0 else "ed", "message": b64(m)} for i, m in enumerate(messages)]
    items[5] = {"alias": "nobody", "message": b64(messages[5])}
    body = json.dumps({"items": items}, indent=1).replace("/", "\\/").encode()
    assert b"\\/" in body
    before = len(server.audit_rows())
    r = server.call("POST", f"/v1/tenants/{T}/sign", admin, raw=body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert r.json()["succeeded"] == 59 and results[5]["error"]["code"] == "key-not-found"
    for i, entry in enumerate(results):
        if i == 5:
            continue
        signature = unb64(entry["result"]["signature"])
        if items[i]["alias"] == "ed":
            assert isinstance(publics["ed"], ed25519.Ed25519PublicKey)
            publics["ed"].verify(signature, messages[i])  # raises if invalid
        else:
            publics["p256"].verify(signature, messages[i], ec.ECDSA(hashes.SHA256()))
    records = server.audit_rows()[before:]
    assert [(row["operation"], row["outcome"]) for row in records] == [("sign", "success"), ("sign", "success"), ("sign", "failure")]
    for row, count in ((records[0], 15), (records[1], 44)):
        details = json.loads(row["details"])
        hmacs = details["message_hmacs"].split(" ")
        assert details["signatures"] == str(count) and len(hmacs) == count and len(set(hmacs)) == count
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hmacs)
    assert json.loads(records[2]["details"]) == {"alias": "nobody", "error": "key-not-found"}
    assert server.call("POST", "/v1/audit/verify", admin).json()["intact"] is True


def test_malformed_requests_get_problems(server):
    admin = server.token("admin")
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, raw=b"{not json"), 400, "invalid-request")
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "x"}), 400, "invalid-request")
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "x", "scheme": "rot13"}), 400, "unknown-scheme")
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "bad alias!", "scheme": "ed25519"}), 400, "invalid-name")
    problem(server.call("GET", "/v1/nothing-here", admin), 404)
    # Past the body limit: 413, and nothing created.
    big = b'{"alias":"big","scheme":"ed25519","labels":{"x":"' + b"a" * (2 << 20) + b'"}}'
    problem(server.call("POST", f"/v1/tenants/{T}/keys", admin, raw=big), 413, "body-too-large")
    assert server.call("GET", f"/v1/tenants/{T}/keys/big", admin).status_code == 404


def test_malformed_names_in_paths_are_refused_by_the_rule_they_break(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "k", "scheme": "ed25519"})
    before = server.call("GET", f"/v1/tenants/{T}/keys", admin).json()
    # Percent-encoded so that each reaches the server as one path segment.
    for tenant in ["Upper", "a%20b", "-dash", "%C3%A9", "a%0Ab", "x" * 65]:
        body = problem(server.call("GET", f"/v1/tenants/{tenant}/keys", admin), 400, "invalid-name")
        assert "tenant" in body["detail"], body
        problem(server.call("POST", f"/v1/tenants/{tenant}/keys/k/sign", admin, {"message": "AA=="}), 400, "invalid-name")
    for alias in ["%2E%2E%2Fetc", "a%20b", "%E2%80%AEk", "a%00b", "a" * 129]:
        body = problem(server.call("POST", f"/v1/tenants/{T}/keys/{alias}/sign", admin, {"message": "AA=="}), 400, "invalid-name")
        assert "alias" in body["detail"], body
    # A batch item with a malformed alias fails alone; the others are signed.
    r = server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": [{"alias": "k", "message": "AA=="}, {"alias": "../k", "message": "AA=="}]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert "result" in results[0] and results[1]["error"]["code"] == "invalid-name"
    assert server.call("GET", f"/v1/tenants/{T}/keys", admin).json() == before


def test_concurrent_signing_all_audited(server):
    signer_admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", signer_admin, {"alias": "hot", "scheme": "ed25519"})
    signer = server.token("signer", T)

    def sign(index: int) -> int:
        return server.call("POST", f"/v1/tenants/{T}/keys/hot/sign", signer, {"message": b64(f"m{index}".encode())}).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(sign, range(200)))
    assert statuses == [200] * 200
    rows = [row for row in server.audit_rows() if row["operation"] == "sign"]
    assert len(rows) == 200
    assert all(row["actor"].startswith("token:") and row["outcome"] == "success" for row in rows)
    verified = server.call("POST", "/v1/audit/verify", signer_admin).json()
    assert verified["intact"] is True and verified["records_checked"] >= 202


def test_health_and_metrics(server):
    assert server.call("GET", "/v1/health/live").json() == {"status": "live"}
    ready = server.call("GET", "/v1/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/keys", admin, {"alias": "m", "scheme": "ed25519"})
    for _ in range(3):
        server.call("POST", f"/v1/tenants/{T}/keys/m/sign", admin, {"message": b64(b"x")})
    server.call("GET", "/v1/tenants", "cst_0000000000000000_" + "A" * 43)
    text = server.call("GET", "/metrics").text
    assert 'custos_signatures_total{scheme="ed25519"} 3' in text
    assert 'http_route="/v1/tenants/{tenant}/keys/{alias}/sign"' in text and 'http_response_status_code="200"' in text
    assert 'http_response_status_code="401"' in text
    assert "http_server_request_duration_bucket" in text
    assert "custos_key_cache_hit_ratio" in text


def test_requests_past_their_deadline_get_503_timeout(custos):
    """`server.request_timeout_seconds`: a batch that cannot finish in time is answered
    503 `timeout` at the deadline (its remaining items are cancelled), and the server
    goes on serving."""
    import time as clock

    custos.generate("slow", "rsa-pss-sha256", "--rsa-bits", "4096")
    server = Server(custos, config={"server": {"request_timeout_seconds": 1}}).start()
    try:
        admin = server.token("admin")
        items = [{"alias": "slow", "message": b64(f"m{index}".encode())} for index in range(1000)]
        started = clock.monotonic()
        r = server.call("POST", f"/v1/tenants/{T}/sign", admin, {"items": items})
        elapsed = clock.monotonic() - started
        problem(r, 503, "timeout")
        assert elapsed < 30, elapsed
        # The items cut off are audited as timeouts, never as bad arguments.
        errors = {json.loads(row["details"]).get("error") for row in server.audit_rows()
                  if row["operation"] == "sign" and row["outcome"] == "failure"}
        assert errors == {"timeout"}, errors
        assert server.call("GET", "/v1/health/ready").status_code == 200
        assert server.call("POST", f"/v1/tenants/{T}/keys/slow/sign", admin, {"message": b64(b"quick")}).status_code == 200
    finally:
        server.stop()
