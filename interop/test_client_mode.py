"""The same `custos` commands through a server (`--server`, a token), with no data
directory and no passphrase on the client side."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def remote(server, token: str):
    """A runner with the server and token in its environment and no local keystore."""
    custos = server.custos
    env = dict(custos.env)
    env.pop("CUSTOS_PASSPHRASE", None)
    env["CUSTOS_DATA_DIR"] = str(custos.workdir / "no-local-data")
    env["CUSTOS_SERVER"] = server.url
    env["CUSTOS_TOKEN"] = token

    def run(*args, expect=0):
        return custos.run(*args, expect=expect, env=env)
    return run


def test_commands_act_through_the_api(server):
    admin = server.token("admin")
    run = remote(server, admin)
    assert [t["id"] for t in run("tenant", "list", "--json").json()["tenants"]] == ["acme"]
    assert run("tenant", "create", "second", "--json").json()["id"] == "second"
    key = run("key", "generate", "--tenant", "acme", "--alias", "remote-key", "--scheme", "ecdsa-p256-sha256", "--json").json()
    assert key["scheme"] == "ecdsa-p256-sha256"
    message = server.custos.file(b"signed through the server")
    signature = bytes.fromhex(run("sign", "--tenant", "acme", "--key", "remote-key", "--message-file", message).out.strip())
    pem = run("key", "public", "--tenant", "acme", "remote-key", "--format", "pem").out
    serialization.load_pem_public_key(pem.encode()).verify(signature, b"signed through the server", ec.ECDSA(hashes.SHA256()))
    assert run("verify", "--tenant", "acme", "--key", "remote-key", "--message-file", message, "--signature", signature.hex(), "--json").json()["valid"]
    run("verify", "--tenant", "acme", "--key", "remote-key", "--message-hex", "00", "--signature", signature.hex(), expect=1)
    assert run("key", "rotate", "--tenant", "acme", "remote-key", "--json").json()["primary_version"] == 2
    listed = run("key", "list", "--tenant", "acme", "--json").out
    assert "remote-key" in listed
    # Encryption and HMAC.
    run("key", "generate", "--tenant", "acme", "--alias", "box", "--scheme", "aes-256-gcm")
    plaintext = server.custos.file(b"remote secret")
    sealed = run("encrypt", "--tenant", "acme", "--key", "box", "--in", plaintext).out.strip()
    opened_path = server.custos.workdir / "opened.bin"
    run("decrypt", "--tenant", "acme", "--key", "box", "--ciphertext-hex", sealed, "--out", opened_path)
    assert opened_path.read_bytes() == b"remote secret"
    # Tokens and the audit log, remotely.
    created = run("token", "create", "--tenant", "acme", "--role", "signer", "--ttl", "10m", "--json").json()
    assert created["bearer"].startswith("cst_") and created["role"] == "signer"
    assert created["id"] in run("token", "list", "--tenant", "acme").out
    signer = remote(server, created["bearer"])
    run("sign", "--tenant", "acme", "--key", "remote-key", "--message-hex", "01")
    signer("sign", "--tenant", "acme", "--key", "remote-key", "--message-hex", "02")
    refused = signer("key", "generate", "--tenant", "acme", "--alias", "nope", "--scheme", "ed25519", expect=2)
    assert "forbidden" in refused.err
    assert run("token", "revoke", created["id"], "--json").json()["revoked_at"]
    assert "unauthenticated" in signer("sign", "--tenant", "acme", "--key", "remote-key", "--message-hex", "03", expect=2).err
    records = run("audit", "list", "--limit", "1000", "--json").json_lines()
    operations = [record["operation"] for record in records]
    assert "generate" in operations and "token.revoke" in operations and operations.count("sign") >= 3
    assert all(record["actor"].startswith(("token:", "cli", "server", "anonymous")) for record in records)
    assert run("audit", "verify", "--json").json()["intact"] is True
    # Local-only commands say so.
    assert "local data directory" in run("audit", "checkpoint", expect=2).err
    # Nothing was created on the client side.
    assert not (server.custos.workdir / "no-local-data").exists()


def test_client_errors(server):
    run = remote(server, "cst_0123456789abcdef_" + "B" * 43)
    assert "unauthenticated" in run("tenant", "list", expect=2).err
    admin = server.token("admin")
    good = remote(server, admin)
    assert "key-not-found" in good("sign", "--tenant", "acme", "--key", "missing", "--message-hex", "00", expect=2).err
    env_runner = server.custos
    unreachable = dict(env_runner.env, CUSTOS_SERVER="http://127.0.0.1:9", CUSTOS_TOKEN=admin)
    res = env_runner.run("tenant", "list", expect=2, env=unreachable)
    assert "cannot reach the Custos server" in res.err
    bad_url = dict(env_runner.env, CUSTOS_SERVER="ftp://example", CUSTOS_TOKEN=admin)
    assert "--server must be an http" in env_runner.run("tenant", "list", expect=2, env=bad_url).err
    no_token = dict(env_runner.env, CUSTOS_SERVER=server.url)
    no_token.pop("CUSTOS_TOKEN", None)
    assert "needs a token" in env_runner.run("tenant", "list", expect=2, env=no_token).err


def test_tls_commands_through_the_api(server, tmp_path):
    """`custos tls …` with --server gives the same bodies as on the data directory, and
    openssl accepts what it issued."""
    import subprocess

    admin = server.token("admin")
    run = remote(server, admin)
    ca = run("tls", "ca", "create", "--tenant", "acme", "--alias", "remote-ca", "--subject", "CN=Remote CA", "--json").json()
    assert ca["is_ca"] and ca["alias"] == "remote-ca"
    node = run("tls", "issue", "--tenant", "acme", "--alias", "remote-node", "--issuer", "remote-ca", "--subject", "CN=remote-node",
               "--dns", "node.acme.test", "--usage", "server", "--days", "30", "--json").json()
    (tmp_path / "ca.pem").write_text(run("tls", "export", "--tenant", "acme", "--alias", "remote-ca").out)
    (tmp_path / "node.pem").write_text(run("tls", "export", "--tenant", "acme", "--alias", "remote-node").out)
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "node.pem")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr

    key, csr = tmp_path / "c.key", tmp_path / "c.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", str(key),
                    "-out", str(csr), "-subj", "/CN=remote-client"], check=True, capture_output=True)
    signed = run("tls", "sign-csr", "--tenant", "acme", "--issuer", "remote-ca", "--csr", str(csr), "--usage", "client",
                 "--out", str(tmp_path / "c.pem"), "--json").json()
    assert (tmp_path / "c.pem").read_text() == signed["chain_pem"]

    rotated = run("tls", "rotate", "--tenant", "acme", "--alias", "remote-node", "--json").json()
    assert rotated["key_version"] == 2 and rotated["pin"] != node["pin"]
    revoked = run("tls", "revoke", "--tenant", "acme", "--certificate", str(tmp_path / "c.pem"), "--json").json()
    assert revoked["serial"] == signed["serial"] and revoked["revoked_at"]

    trust = run("tls", "trust", "add-pin", node["pin"], "--label", "node", "--json").json()
    assert [p["pin"] for p in trust["pins"]] == [node["pin"]]
    assert run("tls", "trust", "add-ca", "--tenant", "acme", "--alias", "remote-ca", "--json").json()["authorities"][0]["alias"] == "remote-ca"
    assert run("tls", "trust", "remove-pin", node["pin"], "--json").json()["pins"] == []
    bad = run("tls", "trust", "add-pin", "zz", expect=None)
    assert bad.code != 0 and "pin" in bad.err
    signer = remote(server, server.token("signer", tenant="acme"))
    assert len(signer("tls", "list", "--tenant", "acme", "--json").json()["certificates"]) >= 4
    assert signer("tls", "rotate", "--tenant", "acme", "--alias", "remote-node", expect=None).code != 0

    listed = run("tls", "list", "--tenant", "acme", "--json").json()["certificates"]
    assert {c["serial"] for c in listed} >= {ca["serial"], node["serial"], rotated["serial"], signed["serial"]}
    # The same listing on the data directory, with the server stopped.
    server.stop()
    local = server.custos.run("tls", "list", "--tenant", "acme", "--json").json()["certificates"]
    assert [(c["serial"], c["pin"], c.get("revoked_at") is not None) for c in local] == [(c["serial"], c["pin"], c.get("revoked_at") is not None) for c in listed]
