"""Authentication, roles and tenant isolation on every route."""

from __future__ import annotations

import json

from server import b64, problem

A, B = "acme", "globex"


def seed(server):
    """Tenant B with one key of each kind, and a B token; returns node-wide admin."""
    admin = server.token("admin")
    assert server.call("POST", "/v1/tenants", admin, {"id": B}).status_code == 201
    for alias, scheme in [("sig", "ed25519"), ("aes", "aes-256-gcm"), ("mac", "hmac-sha256"), ("bls", "bls12381-pop")]:
        assert server.call("POST", f"/v1/tenants/{B}/keys", admin, {"alias": alias, "scheme": scheme}).status_code == 201
    return admin


def routes_on(tenant: str, signature: str, ciphertext: str):
    """(method, path, body) for every tenant-scoped route."""
    k = f"/v1/tenants/{tenant}/keys"
    return [
        ("GET", k, None),
        ("POST", k, {"alias": "intruder", "scheme": "ed25519"}),
        ("POST", f"{k}/import", {"alias": "intruder2", "scheme": "ed25519", "private_key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIEjq2o5y6tEgLqCpuSaFrWSp7fP2rtsNPcqgscBRUJyZ\n-----END PRIVATE KEY-----\n"}),
        ("GET", f"{k}/sig", None),
        ("GET", f"{k}/sig/public", None),
        ("POST", f"{k}/bls/pop", None),
        ("POST", f"{k}/sig/sign", {"message": b64(b"m")}),
        ("POST", f"{k}/sig/verify", {"message": b64(b"m"), "signature": signature}),
        ("POST", f"{k}/aes/encrypt", {"plaintext": b64(b"p")}),
        ("POST", f"{k}/aes/decrypt", {"ciphertext": ciphertext}),
        ("POST", f"{k}/mac/hmac", {"message": b64(b"m")}),
        ("POST", f"/v1/tenants/{tenant}/sign", {"items": [{"alias": "sig", "message": b64(b"m")}]}),
        ("POST", f"/v1/tenants/{tenant}/verify", {"items": [{"alias": "sig", "message": b64(b"m"), "signature": signature}]}),
        ("POST", f"{k}/sig/rotate", None),
        ("POST", f"{k}/sig/disable", None),
        ("POST", f"{k}/sig/enable", None),
        ("POST", f"{k}/sig/destroy", None),
        ("GET", "/v1/audit", None, {"tenant": tenant}),
        ("POST", "/v1/audit/verify", None, {"tenant": tenant}),
        ("GET", "/v1/tokens", None, {"tenant": tenant}),
        ("POST", "/v1/tokens", {"tenant": tenant, "role": "admin", "ttl_seconds": 60}),
    ]


def test_a_tenant_token_never_reaches_another_tenant(server):
    admin = seed(server)
    signature = server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", admin, {"message": b64(b"m")}).json()["signature"]
    ciphertext = server.call("POST", f"/v1/tenants/{B}/keys/aes/encrypt", admin, {"plaintext": b64(b"p")}).json()["ciphertext"]
    before = server.call("GET", f"/v1/tenants/{B}/keys", admin).json()
    b_token = server.token("signer", B)
    b_token_id = b_token.split("_")[1]
    for role in ("admin", "operator", "signer", "auditor"):
        token = server.token(role, A)
        for route in routes_on(B, signature, ciphertext):
            method, path, body = route[:3]
            params = route[3] if len(route) > 3 else None
            r = server.call(method, path, token, body, params=params)
            assert r.status_code in (403, 404), f"{role}: {method} {path} -> {r.status_code} {r.text[:300]}"
            problem(r, r.status_code)
            assert "sig" not in r.json().get("keys", []) and "signature" not in r.json()
        # Someone else's token cannot be revoked (and looks like no token).
        problem(server.call("POST", f"/v1/tokens/{b_token_id}/revoke", token), 404)
        # Listings are confined to the token's tenant.
        tenants = server.call("GET", "/v1/tenants", token).json()["tenants"]
        assert [t["id"] for t in tenants] == [A]
    # Nothing of B's changed, and B's token still works.
    assert server.call("GET", f"/v1/tenants/{B}/keys", admin).json() == before
    assert server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", b_token, {"message": b64(b"m")}).status_code == 200
    # Audit records of A's attempts exist, and none of B's records leak to A's auditor.
    auditor = server.token("auditor", A)
    records = server.call("GET", "/v1/audit", auditor, params={"limit": 1000}).json()["records"]
    assert records and all(record.get("tenant") == A for record in records)
    denied = [row for row in server.audit_rows() if row["outcome"] == "denied" and row["tenant_id"] == B]
    assert len(denied) >= 4 * 10


def test_each_role_is_refused_what_it_lacks(server):
    admin = seed(server)
    signature = server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", admin, {"message": b64(b"m")}).json()["signature"]
    ciphertext = server.call("POST", f"/v1/tenants/{B}/keys/aes/encrypt", admin, {"plaintext": b64(b"p")}).json()["ciphertext"]
    def name(route) -> str:
        method, path = route[0], route[1]
        if path in (f"/v1/tenants/{B}/sign", f"/v1/tenants/{B}/verify"):
            return "batch-" + path.rsplit("/", 1)[-1]
        if path == "/v1/audit/verify":
            return "audit-verify"
        return path.rsplit("/", 1)[-1] + ":" + method
    routes = {name(route): route for route in routes_on(B, signature, ciphertext)}
    assert len(routes) == len(routes_on(B, signature, ciphertext))
    # Every role may read keys and verify; the rest is by role.
    readable = {"keys:GET", "sig:GET", "public:GET", "verify:POST", "batch-verify"}
    denied_routes = {
        "operator": {"sign:POST", "batch-sign", "encrypt:POST", "decrypt:POST", "hmac:POST", "audit:GET", "audit-verify",
                     "tokens:GET", "tokens:POST"},
        "signer": {"keys:POST", "import:POST", "rotate:POST", "disable:POST", "enable:POST", "destroy:POST", "audit:GET",
                   "audit-verify", "tokens:GET", "tokens:POST"},
        "auditor": {"keys:POST", "import:POST", "sign:POST", "batch-sign", "encrypt:POST", "decrypt:POST", "hmac:POST",
                    "rotate:POST", "disable:POST", "destroy:POST", "tokens:GET", "tokens:POST"},
    }
    for role, refused in denied_routes.items():
        token = server.token(role, B)
        for name in refused:
            method, path, body = routes[name][:3]
            params = routes[name][3] if len(routes[name]) > 3 else None
            r = server.call(method, path, token, body, params=params)
            problem(r, 403, "forbidden")
        for name in readable:
            method, path, body = routes[name][:3]
            r = server.call(method, path, token, body)
            assert r.status_code == 200, f"{role} {name}: {r.status_code} {r.text[:200]}"
    # And what each role may do, does work.
    assert server.call("GET", "/v1/audit", server.token("auditor", B)).status_code == 200
    assert server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", server.token("signer", B), {"message": b64(b"m")}).status_code == 200
    assert server.call("POST", f"/v1/tenants/{B}/keys/sig/rotate", server.token("operator", B)).status_code == 200
    # Only node-wide admins create tenants.
    problem(server.call("POST", "/v1/tenants", server.token("admin", B), {"id": "newco"}), 403, "forbidden")
    assert server.call("POST", "/v1/tenants", admin, {"id": "newco"}).status_code == 201


def test_unauthenticated_requests_are_refused_and_audited(server):
    seed(server)
    before = len(server.audit_rows())
    for header in [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer cst_0123456789abcdef_" + "A" * 43]:
        headers = {"Authorization": header} if header else {}
        r = server.call("GET", f"/v1/tenants/{B}/keys", headers=headers)
        problem(r, 401, "unauthenticated")
        assert r.headers.get("www-authenticate") == "Bearer"
    # The first refusal per source and reason is recorded at once; the others are
    # counted and recorded together (here at shutdown), so every refusal is accounted for.
    rows = server.audit_rows()[before:]
    assert sorted(json.loads(row["details"])["reason"] for row in rows) == ["invalid-token", "unauthenticated"]
    assert server.stop() == 0
    rows = server.audit_rows()[before:]
    assert all(row["operation"] == "authorization" and row["outcome"] == "denied" for row in rows)
    details = [json.loads(row["details"]) for row in rows]
    assert sum(int(d["count"]) for d in details) == 5 and {d["source"] for d in details} == {"127.0.0.1"}


def test_revoked_and_expired_tokens_stop_working(server):
    admin = seed(server)
    token = server.token("signer", B)
    assert server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", token, {"message": b64(b"m")}).status_code == 200
    token_id = token.split("_")[1]
    revoked = server.call("POST", f"/v1/tokens/{token_id}/revoke", admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    problem(server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", token, {"message": b64(b"m")}), 401)
    # API-created tokens: the secret is returned once and works.
    created = server.call("POST", "/v1/tokens", admin, {"tenant": B, "role": "signer", "ttl_seconds": 1})
    assert created.status_code == 201
    bearer = created.json()["bearer"]
    assert server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", bearer, {"message": b64(b"m")}).status_code == 200
    listed = server.call("GET", "/v1/tokens", admin, params={"tenant": B}).text
    assert bearer[21:] not in listed
    import time
    time.sleep(2.2)  # past the 1 s lifetime (and the 1 s token cache)
    problem(server.call("POST", f"/v1/tenants/{B}/keys/sig/sign", bearer, {"message": b64(b"m")}), 401)
