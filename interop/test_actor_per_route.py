"""Every documented /v1 operation, called with a token of every role, is audited as that
token and nobody else.

The operations come from openapi.yaml, so a new route cannot slip past: one it has no
request recipe for fails here. One `custos serve` serves the whole module. The role
tokens are made with `custos token create` before it starts, so that from then on the
local admin ("cli") never writes to the audit log; everything else goes over HTTP.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml  # PyYAML, which schemathesis brings into the venv
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from custos_cli import REPO, SCRYPT_LOG_N, TENANT, Custos
from server import Server, b64

ROLES = ("admin", "operator", "signer", "auditor", "node")
OTHER_TENANT = "globex"
FOREIGN = "globex-signer"  # the tenant-bound signer token of OTHER_TENANT
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


# ---------------------------------------------------------------------------------------
# The operations openapi.yaml documents
# ---------------------------------------------------------------------------------------

def documented_operations() -> list[tuple[str, str, str]]:
    """(operationId, METHOD, path) of every operation under /v1 that takes a token."""
    paths = yaml.safe_load((REPO / "openapi.yaml").read_text())["paths"]
    operations = []
    for path, item in paths.items():
        if not path.startswith("/v1/") or path.startswith("/v1/health/"):
            continue  # /metrics and the health probes take no token
        for method, operation in item.items():
            if method not in METHODS:
                continue  # path-level `parameters`
            operation_id = (operation or {}).get("operationId") or f"{method.upper()} {path}"
            operations.append((operation_id, method.upper(), path))
    assert len(operations) >= 20, f"openapi.yaml: only {len(operations)} operations under /v1 found; parsing went wrong"
    return operations


OPERATIONS = documented_operations()


# ---------------------------------------------------------------------------------------
# The server, its tokens and what the requests need
# ---------------------------------------------------------------------------------------

def token_id(bearer: str) -> str:
    return bearer.split("_")[1]  # cst_<16 hex id>_<secret>


@dataclass
class Env:
    server: Server
    tokens: dict[str, str]  # role (or FOREIGN) -> bearer
    start_sequence: int  # the audit head when the server started
    signature: str = ""
    ciphertext: str = ""
    eth_address: str = ""
    eth_signature: str = ""
    eth_raw: str = ""
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def admin(self) -> str:
        return self.tokens["admin"]

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n)}"

    def db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.server.custos.data_dir / "custos.sqlite", timeout=10)
        db.row_factory = sqlite3.Row
        return db

    def head(self) -> int:
        db = self.db()
        try:
            return db.execute("SELECT COALESCE(MAX(sequence), 0) FROM audit_records").fetchone()[0]
        finally:
            db.close()

    def records_after(self, sequence: int) -> list[dict]:
        db = self.db()
        try:
            return [dict(row) for row in db.execute(
                "SELECT sequence, actor, tenant_id, operation, outcome, details FROM audit_records "
                "WHERE sequence > ? ORDER BY sequence", (sequence,))]
        finally:
            db.close()

    # -- set-up done by the admin token, before the request under test -----------------

    def admin_ok(self, method: str, path: str, body=None, status: int = 200) -> dict:
        r = self.server.call(method, path, self.admin, body)
        assert r.status_code == status, f"set-up {method} {path}: {r.status_code} {r.text[:300]}"
        return r.json()

    def fresh_key(self, prefix: str, scheme: str = "ed25519") -> str:
        alias = self.unique(prefix)
        self.admin_ok("POST", f"/v1/tenants/{TENANT}/keys", {"alias": alias, "scheme": scheme}, 201)
        return alias

    def private_key_pem(self) -> str:
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        self.server.custos.secrets.append(pem.splitlines()[1])  # never in any response
        return pem


@pytest.fixture(scope="module")
def env(custos_bin: Path, tmp_path_factory) -> Env:
    custos = Custos(custos_bin, tmp_path_factory.mktemp("actor-per-route"))
    custos.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    custos.run("tenant", "create", TENANT)
    server = Server(custos)
    # Node-wide tokens, one per role, before the server runs: the local admin's records
    # all come before `start_sequence`.
    tokens = {role: server.token(role) for role in ROLES}
    probe = Env(server, tokens, 0)
    start_sequence = probe.head()
    server.start()
    try:
        env = Env(server, tokens, start_sequence)
        for alias, scheme in (("sig", "ed25519"), ("bls", "bls12381-pop"), ("aes", "aes-256-gcm"), ("mac", "hmac-sha256")):
            env.admin_ok("POST", f"/v1/tenants/{TENANT}/keys", {"alias": alias, "scheme": scheme}, 201)
        env.admin_ok("POST", f"/v1/tenants/{TENANT}/keys", {"alias": "eth", "scheme": "ecdsa-secp256k1-keccak256", "category": "ACCOUNTS"}, 201)
        env.eth_address = env.admin_ok("GET", f"/v1/tenants/{TENANT}/eth/accounts/eth")["address"]
        env.eth_signature = env.admin_ok("POST", f"/v1/tenants/{TENANT}/eth/accounts/eth/sign-message", {"message": "0x6869"})["signature"]
        env.eth_raw = env.admin_ok("POST", f"/v1/tenants/{TENANT}/eth/accounts/eth/sign-transaction", ETH_TRANSACTION)["raw"]
        env.signature = env.admin_ok("POST", f"/v1/tenants/{TENANT}/keys/sig/sign", {"message": b64(b"m")})["signature"]
        env.ciphertext = env.admin_ok("POST", f"/v1/tenants/{TENANT}/keys/aes/encrypt", {"plaintext": b64(b"p")})["ciphertext"]
        # A second tenant and a signer token bound to it, made over the API.
        env.admin_ok("POST", "/v1/tenants", {"id": OTHER_TENANT}, 201)
        bearer = env.admin_ok("POST", "/v1/tokens", {"tenant": OTHER_TENANT, "role": "signer", "ttl_seconds": 1800}, 201)["bearer"]
        server.token_secrets.append(bearer[21:])
        env.tokens[FOREIGN] = bearer
        yield env
    finally:
        server.stop()  # SIGTERM to the PID it started, then wait


# ---------------------------------------------------------------------------------------
# A request recipe for every operation
# ---------------------------------------------------------------------------------------

@dataclass
class Request:
    path: dict  # path parameters
    body: dict | None = None
    params: dict | None = None


@dataclass
class Recipe:
    method: str
    path: str  # as openapi.yaml spells it
    build: Callable[[Env, str], Request]  # (env, role) -> the request; may set things up as admin
    allowed: frozenset  # node-wide roles that may do it
    refused_status: int = 403
    # What an allowed role gets: the cluster routes answer 409 not-in-cluster on a server
    # whose data directory joined no replica network (test_cluster_network.py runs one that did).
    allowed_statuses: tuple = (200, 201)
    # What the token of another tenant gets (the JSON-RPC endpoint answers errors in HTTP 200).
    foreign_status: int = 403


K = "/v1/tenants/{tenant}/keys"
T = {"tenant": TENANT}
EVERYONE = frozenset({"admin", "operator", "signer", "auditor"})  # node reads no key
MANAGERS = frozenset({"admin", "operator"})
USERS = frozenset({"admin", "signer"})
READERS_OF_AUDIT = frozenset({"admin", "auditor"})
ADMIN = frozenset({"admin"})
NODE = frozenset({"node"})
CLUSTER_READERS = frozenset({"node", "admin", "auditor"})
NOT_IN_CLUSTER = (409,)
E = "/v1/tenants/{tenant}/eth"
ETH_TRANSACTION = {"transaction": {"chainId": 1, "to": "0x" + "35" * 20, "gas": 21000, "gasPrice": 1}}
TYPED_DATA = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}], "Note": [{"name": "text", "type": "string"}]},
              "primaryType": "Note", "domain": {"name": "custos"}, "message": {"text": "hi"}}
CONSENSUS_MESSAGE = {"view": 0, "sequence": 1, "phase": "prepare", "digest": "cd" * 32}


def on_account(body=None) -> Callable[[Env, str], Request]:
    return lambda env, role: Request({**T, "account": "eth"}, body)


def on_key(alias: str, body=None) -> Callable[[Env, str], Request]:
    return lambda env, role: Request({**T, "alias": alias}, body)


def fresh(prefix: str, disable_first: bool = False) -> Callable[[Env, str], Request]:
    """A key of its own for each call, so a destroy or disable breaks nothing else."""
    def build(env: Env, role: str) -> Request:
        alias = env.fresh_key(f"{prefix}-{role}")
        if disable_first:
            env.admin_ok("POST", f"{K.format(**T)}/{alias}/disable")
        return Request({**T, "alias": alias})
    return build


def revocable_token(env: Env, role: str) -> Request:
    created = env.admin_ok("POST", "/v1/tokens", {"tenant": TENANT, "role": "signer", "ttl_seconds": 600}, 201)
    env.server.token_secrets.append(created["bearer"][21:])
    return Request({"id": created["token"]["id"]})


# -- TLS: each call gets its own CA, key or certificate, made by the admin ------------

TLS = "/v1/tenants/{tenant}/tls"


def tls_ca(env: Env, role: str) -> str:
    alias = env.unique(f"ca-{role}")
    env.admin_ok("POST", f"{TLS.format(**T)}/authorities", {"alias": alias, "subject": f"CN={alias}"}, 201)
    return alias


def tls_certificate(env: Env, role: str) -> dict:
    alias = env.unique(f"tls-{role}")
    return env.admin_ok("POST", f"{TLS.format(**T)}/certificates",
                        {"alias": alias, "subject": f"CN={alias}", "self_signed": True, "days": 30}, 201)


def csr_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP384R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outside")]))
    return request.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.PEM).decode()


def outside_certificate(env: Env, role: str) -> Request:
    """A TLS key in the keystore and a certificate for its public key from a CA outside."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    alias = env.unique(f"imported-{role}")
    env.admin_ok("POST", f"/v1/tenants/{TENANT}/keys", {"alias": alias, "scheme": "ecdsa-p384-sha384", "category": "TLS"}, 201)
    public = serialization.load_pem_public_key(env.admin_ok("GET", f"/v1/tenants/{TENANT}/keys/{alias}/public?format=pem")["public_key"].encode())
    ca_key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ca = (x509.CertificateBuilder().subject_name(name("outside CA")).issuer_name(name("outside CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30)).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA384()))
    leaf = (x509.CertificateBuilder().subject_name(name(alias)).issuer_name(ca.subject).public_key(public)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=10)).sign(ca_key, hashes.SHA384()))
    pem = (leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)).decode()
    return Request({**T, "alias": alias}, {"certificate": pem})


def trusted_pin(env: Env, role: str) -> Request:
    import hashlib
    pin = hashlib.sha256(env.unique(f"pin-{role}").encode()).hexdigest()
    env.admin_ok("POST", "/v1/tls/trust/pins", {"pin": pin})
    return Request({}, {"pin": pin})


def trusted_ca(env: Env, role: str) -> Request:
    alias = tls_ca(env, role)
    env.admin_ok("POST", "/v1/tls/trust/authorities", {"tenant": TENANT, "alias": alias})
    return Request({}, {"tenant": TENANT, "alias": alias})


RECIPES: dict[str, Recipe] = {
    "createTenant": Recipe("POST", "/v1/tenants", lambda env, role: Request({}, {"id": env.unique(f"t-{role}")}), ADMIN),
    "listTenants": Recipe("GET", "/v1/tenants", lambda env, role: Request({}), EVERYONE),
    "generateKey": Recipe("POST", K, lambda env, role: Request(T, {"alias": env.unique(f"gen-{role}"), "scheme": "ed25519"}), MANAGERS),
    "listKeys": Recipe("GET", K, lambda env, role: Request(T), EVERYONE),
    "importKey": Recipe("POST", K + "/import", lambda env, role: Request(T, {
        "alias": env.unique(f"imp-{role}"), "scheme": "ed25519", "private_key": env.private_key_pem()}), MANAGERS),
    "getKey": Recipe("GET", K + "/{alias}", on_key("sig"), EVERYONE),
    "getPublicKey": Recipe("GET", K + "/{alias}/public", on_key("sig"), EVERYONE),
    "proofOfPossession": Recipe("POST", K + "/{alias}/pop", on_key("bls"), USERS),
    "rotateKey": Recipe("POST", K + "/{alias}/rotate", fresh("rot"), MANAGERS),
    "disableKey": Recipe("POST", K + "/{alias}/disable", fresh("dis"), MANAGERS),
    "enableKey": Recipe("POST", K + "/{alias}/enable", fresh("ena", disable_first=True), MANAGERS),
    "destroyKey": Recipe("POST", K + "/{alias}/destroy", fresh("des"), MANAGERS),
    "sign": Recipe("POST", K + "/{alias}/sign", on_key("sig", {"message": b64(b"m")}), USERS),
    "verify": Recipe("POST", K + "/{alias}/verify",
                     lambda env, role: Request({**T, "alias": "sig"}, {"message": b64(b"m"), "signature": env.signature}), EVERYONE),
    "encrypt": Recipe("POST", K + "/{alias}/encrypt", on_key("aes", {"plaintext": b64(b"p")}), USERS),
    "decrypt": Recipe("POST", K + "/{alias}/decrypt",
                      lambda env, role: Request({**T, "alias": "aes"}, {"ciphertext": env.ciphertext}), USERS),
    "hmac": Recipe("POST", K + "/{alias}/hmac", on_key("mac", {"message": b64(b"m")}), USERS),
    "batchSign": Recipe("POST", "/v1/tenants/{tenant}/sign",
                        lambda env, role: Request(T, {"items": [{"alias": "sig", "message": b64(b"m")}]}), USERS),
    "batchVerify": Recipe("POST", "/v1/tenants/{tenant}/verify", lambda env, role: Request(T, {
        "items": [{"alias": "sig", "message": b64(b"m"), "signature": env.signature}]}), EVERYONE),
    "ethAccounts": Recipe("GET", E + "/accounts", lambda env, role: Request(T), EVERYONE),
    "ethAccount": Recipe("GET", E + "/accounts/{account}", on_account(), EVERYONE),
    "ethSignTransaction": Recipe("POST", E + "/accounts/{account}/sign-transaction", on_account(ETH_TRANSACTION), USERS),
    "ethSignMessage": Recipe("POST", E + "/accounts/{account}/sign-message", on_account({"message": "0x6869"}), USERS),
    "ethSignTypedData": Recipe("POST", E + "/accounts/{account}/sign-typed-data", on_account({"typed_data": TYPED_DATA}), USERS),
    "ethSetPolicy": Recipe("POST", E + "/accounts/{account}/policy", on_account({"policy": None}), MANAGERS),
    "ethSetNonce": Recipe("POST", E + "/accounts/{account}/nonce", on_account({"chain_id": 7, "next_nonce": 3}), MANAGERS),
    "ethChain": Recipe("GET", E + "/chain", lambda env, role: Request(T), EVERYONE),
    "ethSetChain": Recipe("POST", E + "/chain", lambda env, role: Request(T, {"chain_id": 1}), MANAGERS),
    "ethDecodeTransaction": Recipe("POST", E + "/decode-transaction", lambda env, role: Request(T, {"raw": env.eth_raw}), EVERYONE),
    "ethRecover": Recipe("POST", E + "/recover",
                         lambda env, role: Request(T, {"message": "0x6869", "signature": env.eth_signature}), EVERYONE),
    # JSON-RPC answers a refusal as a JSON-RPC error in HTTP 200; it is audited all the same.
    "ethRPC": Recipe("POST", E, lambda env, role: Request(T, {"jsonrpc": "2.0", "id": 1, "method": "eth_sign",
                                                              "params": [env.eth_address, "0x6869"]}),
                     USERS, refused_status=200, allowed_statuses=(200,), foreign_status=200),
    "createCertificateAuthority": Recipe("POST", TLS + "/authorities", lambda env, role: Request(T, {
        "alias": env.unique(f"newca-{role}"), "subject": "CN=A CA"}), MANAGERS),
    "issueCertificate": Recipe("POST", TLS + "/certificates", lambda env, role: Request(T, {
        "alias": env.unique(f"node-{role}"), "subject": "CN=node", "issuer": tls_ca(env, role), "days": 30}), MANAGERS),
    "listCertificates": Recipe("GET", TLS + "/certificates", lambda env, role: Request(T), EVERYONE),
    "signCertificateRequest": Recipe("POST", TLS + "/csr", lambda env, role: Request(T, {
        "issuer": tls_ca(env, role), "csr": csr_pem(), "days": 30}), MANAGERS),
    "rotateCertificate": Recipe("POST", TLS + "/certificates/{alias}/rotate",
                                lambda env, role: Request({**T, "alias": tls_certificate(env, role)["alias"]}), MANAGERS),
    "importCertificate": Recipe("POST", TLS + "/certificates/{alias}/import", outside_certificate, MANAGERS),
    "revokeCertificate": Recipe("POST", TLS + "/revoke", lambda env, role: Request(T, {"serial": tls_certificate(env, role)["serial"]}), MANAGERS),
    "tlsTrust": Recipe("GET", "/v1/tls/trust", lambda env, role: Request({}), ADMIN),
    "trustPin": Recipe("POST", "/v1/tls/trust/pins", lambda env, role: Request({}, {"pin": "ab" * 32, "label": role}), ADMIN),
    "untrustPin": Recipe("POST", "/v1/tls/trust/pins/remove", trusted_pin, ADMIN),
    "trustAuthority": Recipe("POST", "/v1/tls/trust/authorities",
                             lambda env, role: Request({}, {"tenant": TENANT, "alias": tls_ca(env, role)}), ADMIN),
    "untrustAuthority": Recipe("POST", "/v1/tls/trust/authorities/remove", trusted_ca, ADMIN),
    "createToken": Recipe("POST", "/v1/tokens",
                          lambda env, role: Request({}, {"tenant": TENANT, "role": "auditor", "ttl_seconds": 60}), ADMIN),
    "listTokens": Recipe("GET", "/v1/tokens", lambda env, role: Request({}), ADMIN),
    # Someone else's token looks like no token (404), by design.
    "revokeToken": Recipe("POST", "/v1/tokens/{id}/revoke", revocable_token, ADMIN, refused_status=404),
    "listAudit": Recipe("GET", "/v1/audit", lambda env, role: Request({}), READERS_OF_AUDIT),
    "verifyAudit": Recipe("POST", "/v1/audit/verify", lambda env, role: Request({}), READERS_OF_AUDIT),
    "clusterStatus": Recipe("GET", "/v1/cluster/status", lambda env, role: Request({}), CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    "clusterCertified": Recipe("GET", "/v1/cluster/certified", lambda env, role: Request({}), CLUSTER_READERS,
                               allowed_statuses=NOT_IN_CLUSTER),
    "clusterSchedule": Recipe("POST", "/v1/cluster/schedule",
                              lambda env, role: Request({}, {"sequence": 1, "record": "AA==", "certificate": "AA=="}), NODE,
                              allowed_statuses=NOT_IN_CLUSTER),
    "clusterCheckpoint": Recipe("POST", "/v1/cluster/checkpoints",
                                lambda env, role: Request({}, {"boundary": 4, "ledger_digest": "ab" * 32}), NODE, allowed_statuses=NOT_IN_CLUSTER),
    "clusterStableCheckpoint": Recipe("GET", "/v1/cluster/checkpoints/{boundary}", lambda env, role: Request({"boundary": 4}), CLUSTER_READERS,
                                      allowed_statuses=NOT_IN_CLUSTER),
    "clusterShare": Recipe("POST", "/v1/cluster/shares", lambda env, role: Request({}, CONSENSUS_MESSAGE), NODE, allowed_statuses=NOT_IN_CLUSTER),
    "clusterCombine": Recipe("POST", "/v1/cluster/shares/combine", lambda env, role: Request({}, {**CONSENSUS_MESSAGE, "shares": []}), NODE,
                             allowed_statuses=NOT_IN_CLUSTER),
    "clusterVerify": Recipe("POST", "/v1/cluster/shares/verify", lambda env, role: Request({}, {**CONSENSUS_MESSAGE, "certificate": "AA=="}),
                            CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    "clusterLog": Recipe("GET", "/v1/cluster/log", lambda env, role: Request({}), CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    "clusterLogExport": Recipe("GET", "/v1/cluster/log/export", lambda env, role: Request({}), CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    # An operator command carries its own authority (the operator's signature); the token only
    # decides who may hand it to the replica: admin or the node.
    "clusterSubmitCommand": Recipe("POST", "/v1/cluster/commands", lambda env, role: Request({}, {"command": "AA=="}),
                                   frozenset({"admin", "node"}), allowed_statuses=NOT_IN_CLUSTER),
    "clusterCommands": Recipe("GET", "/v1/cluster/commands", lambda env, role: Request({}), CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    "clusterClients": Recipe("GET", "/v1/cluster/clients", lambda env, role: Request({}), CLUSTER_READERS, allowed_statuses=NOT_IN_CLUSTER),
    "clusterClientSign": Recipe("POST", "/v1/cluster/client/sign", lambda env, role: Request({}, {"message": "AA=="}), NODE,
                                allowed_statuses=NOT_IN_CLUSTER),
}

# POST routes that only check something: they need not leave a record (but any record
# they leave must still name the caller). Every other POST changes or uses keys,
# tenants or tokens and must be audited for every role, allowed or refused.
CHECKS_ONLY = {"verify", "batchVerify", "verifyAudit", "ethDecodeTransaction", "ethRecover"}


def must_audit(operation_id: str, method: str) -> bool:
    return method == "POST" and operation_id not in CHECKS_ONLY


def run(env: Env, operation_id: str, method: str, path: str, who: str) -> tuple[object, list[dict], list[str]]:
    """Sends the operation's request with the token of `who`; returns the response, the
    audit records appended meanwhile, and what is wrong with their actors."""
    recipe = RECIPES.get(operation_id)
    assert recipe is not None, (
        f"openapi.yaml documents {method} {path} ({operation_id}) but test_actor_per_route.py has no request "
        f"recipe for it: add one to RECIPES so its audit actor is checked")
    assert (recipe.method, recipe.path) == (method, path), (
        f"{operation_id}: the recipe is for {recipe.method} {recipe.path}, openapi.yaml documents {method} {path}")
    request = recipe.build(env, who)
    url = path.format(**request.path)
    token = env.tokens[who]
    actor = f"token:{token_id(token)}"
    before = env.head()
    response = env.server.call(method, url, token, request.body, params=request.params)
    records = env.records_after(before)
    problems = [
        f"record {row['sequence']} ({row['operation']}/{row['outcome']}) has actor {row['actor']!r}, expected {actor!r}"
        for row in records if row["actor"] != actor
    ]
    return response, records, problems


def describe(records: list[dict]) -> str:
    return "; ".join(f"{r['sequence']}:{r['actor']}:{r['operation']}/{r['outcome']}" for r in records) or "none"


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------

def test_every_documented_operation_has_a_recipe():
    documented = {operation_id: (method, path) for operation_id, method, path in OPERATIONS}
    missing = sorted(f"{method} {path} ({operation_id})" for operation_id, (method, path) in documented.items()
                     if operation_id not in RECIPES)
    assert not missing, f"operations in openapi.yaml with no request recipe here: {missing}"
    stale = sorted(set(RECIPES) - set(documented))
    assert not stale, f"recipes for operations openapi.yaml no longer documents: {stale}"
    moved = {op: (f"{r.method} {r.path}", "%s %s" % documented[op]) for op, r in RECIPES.items()
             if (r.method, r.path) != documented[op]}
    assert not moved, f"recipe path differs from openapi.yaml (recipe, documented): {moved}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation_id,method,path", OPERATIONS, ids=[op for op, _, _ in OPERATIONS])
def test_each_record_names_the_calling_token(env, operation_id, method, path, role):
    response, records, problems = run(env, operation_id, method, path, role)
    recipe = RECIPES[operation_id]
    expected = recipe.allowed_statuses if role in recipe.allowed else (recipe.refused_status,)
    if response.status_code not in expected:
        problems.append(f"status {response.status_code}, expected one of {expected}: {response.text[:300]}")
    if must_audit(operation_id, method) and not any(
            r["actor"] == f"token:{token_id(env.tokens[role])}" and r["outcome"] in ("success", "denied", "failure")
            for r in records):
        problems.append(f"no audit record for this {'allowed' if role in recipe.allowed else 'refused'} call "
                        f"(status {response.status_code})")
    assert not problems, (f"{method} {path} ({operation_id}) as {role} [token:{token_id(env.tokens[role])}]: "
                          + " | ".join(problems) + f" | records appended: {describe(records)}")


TENANT_ROUTES = [op for op in OPERATIONS if "{tenant}" in op[2]]


@pytest.mark.parametrize("operation_id,method,path", TENANT_ROUTES, ids=[op for op, _, _ in TENANT_ROUTES])
def test_a_token_of_another_tenant_is_refused_and_named(env, operation_id, method, path):
    """The signer bound to OTHER_TENANT, on TENANT's routes: 403, and a denied record
    naming its own token wherever a refusal must be audited."""
    response, records, problems = run(env, operation_id, method, path, FOREIGN)
    actor = f"token:{token_id(env.tokens[FOREIGN])}"
    expected = RECIPES[operation_id].foreign_status
    if response.status_code != expected:
        problems.append(f"status {response.status_code}, expected {expected}: {response.text[:300]}")
    if must_audit(operation_id, method) and not any(r["actor"] == actor and r["outcome"] == "denied" for r in records):
        problems.append("no denied record naming this token")
    assert not problems, (f"{method} {path} ({operation_id}) as the {OTHER_TENANT} signer [{actor}]: "
                          + " | ".join(problems) + f" | records appended: {describe(records)}")


def test_the_local_admin_wrote_nothing_while_the_server_ran(env):
    """Runs last: stops the server (so shutdown is covered too), then reads every record
    written since it started, from the table and, before stopping, through the API."""
    auditor = env.tokens["auditor"]
    api_actors, after = {}, env.start_sequence
    while True:
        r = env.server.call("GET", "/v1/audit", auditor, params={"after": after, "limit": 1000})
        assert r.status_code == 200, r.text[:300]
        page = r.json()
        api_actors.update({record["sequence"]: record["actor"] for record in page["records"]})
        if page.get("next") is None or not page["records"]:
            break
        after = page["next"]
    assert env.server.stop() == 0, env.server.log_path.read_text()[-2000:]
    rows = env.records_after(env.start_sequence)
    assert rows, "no audit record written while the server ran"
    by_cli = [f"{row['sequence']}:{row['operation']}/{row['outcome']}" for row in rows if row["actor"] == "cli"]
    assert not by_cli, f"records with actor 'cli' written while `custos serve` ran: {by_cli}"
    # The API reports the same actor as the table for every record it listed.
    table = {row["sequence"]: row["actor"] for row in rows}
    differing = {seq: (actor, table.get(seq)) for seq, actor in api_actors.items() if table.get(seq) != actor}
    assert not differing, f"GET /v1/audit actor differs from the table (api, table): {differing}"
    known = {f"token:{token_id(bearer)}" for bearer in env.tokens.values()} | {"server", "keystore", "anonymous"}
    strangers = sorted({row["actor"] for row in rows} - known)
    assert not strangers, f"records by actors this test never used: {strangers}"
