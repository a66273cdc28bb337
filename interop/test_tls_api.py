"""TLS certificates and the client trust set over the HTTP API, checked with
pyca/cryptography and openssl: the same operations as `custos tls`, the same refusals."""

from __future__ import annotations

import hashlib
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server import problem

T = "acme"


def chain(body: dict) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(body["chain_pem"].encode())


def spki_pin(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def listing(server, token) -> list[dict]:
    r = server.call("GET", f"/v1/tenants/{T}/tls/certificates", token)
    assert r.status_code == 200, r.text
    return r.json()["certificates"]


def test_issue_list_rotate_revoke_over_the_api(server, tmp_path):
    admin = server.token("admin")
    ca = server.call("POST", f"/v1/tenants/{T}/tls/authorities", admin, {"alias": "root-ca", "subject": "CN=Acme Root CA,O=Acme"})
    assert ca.status_code == 201, ca.text
    root = chain(ca.json())[0]
    assert ca.json()["is_ca"] and isinstance(root.public_key(), ec.EllipticCurvePublicKey) and root.public_key().curve.name == "secp384r1"
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    node = server.call("POST", f"/v1/tenants/{T}/tls/certificates", admin, {
        "alias": "node-1", "subject": "CN=node-1,O=Acme", "issuer": "root-ca", "dns_names": ["node-1.acme.test"],
        "ip_addresses": ["127.0.0.1"], "usage": "server", "days": 30})
    assert node.status_code == 201, node.text
    body = node.json()
    leaf = chain(body)[0]
    leaf.verify_directly_issued_by(root)
    assert body["pin"] == spki_pin(leaf) and body["key_version"] == 1 and body["issuer_alias"] == "root-ca"
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node-1"
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    assert 29 <= body["days_left"] <= 30

    # openssl, which nobody here wrote, accepts the chain the API returned.
    (tmp_path / "root.pem").write_text(ca.json()["chain_pem"])
    (tmp_path / "leaf.pem").write_text(body["chain_pem"])
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr

    rotated = server.call("POST", f"/v1/tenants/{T}/tls/certificates/node-1/rotate", admin)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["key_version"] == 2 and new["pin"] != body["pin"] and new["dns_names"] == ["node-1.acme.test"]
    chain(new)[0].verify_directly_issued_by(root)

    revoked = server.call("POST", f"/v1/tenants/{T}/tls/revoke", admin, {"serial": body["serial"]})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"]
    by_serial = {c["serial"]: c for c in listing(server, admin)}
    assert by_serial[body["serial"]]["revoked_at"] and not by_serial[new["serial"]].get("revoked_at")

    # The signer role reads certificates but issues nothing.
    signer = server.call("POST", "/v1/tokens", admin, {"tenant": T, "role": "signer", "ttl_seconds": 600}).json()["bearer"]
    server.token_secrets.append(signer[21:])
    assert len(listing(server, signer)) == len(listing(server, admin))
    problem(server.call("POST", f"/v1/tenants/{T}/tls/certificates/node-1/rotate", signer), 403)


def test_sign_csr_made_by_openssl(server, tmp_path):
    admin = server.token("admin")
    ca = server.call("POST", f"/v1/tenants/{T}/tls/authorities", admin, {"alias": "csr-ca", "subject": "CN=CSR CA"}).json()
    key, csr = tmp_path / "k.pem", tmp_path / "r.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", str(key),
                    "-out", str(csr), "-subj", "/CN=outside-client", "-addext", "subjectAltName=DNS:outside.acme.test"], check=True, capture_output=True)
    r = server.call("POST", f"/v1/tenants/{T}/tls/csr", admin, {"issuer": "csr-ca", "csr": csr.read_text(), "usage": "client", "days": 10})
    assert r.status_code == 201, r.text
    issued = chain(r.json())[0]
    issued.verify_directly_issued_by(chain(ca)[0])
    assert r.json().get("alias") is None
    assert issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["outside.acme.test"]

    # A request whose signature was altered is refused and nothing is issued.
    before = listing(server, admin)
    der = bytearray(x509.load_pem_x509_csr(csr.read_bytes()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    import base64
    bad = server.call("POST", f"/v1/tenants/{T}/tls/csr", admin, {"issuer": "csr-ca", "csr": base64.b64encode(bytes(der)).decode()})
    problem(bad, 400)
    problem(server.call("POST", f"/v1/tenants/{T}/tls/csr", admin, {"issuer": "csr-ca", "csr": "not a csr"}), 400)
    assert listing(server, admin) == before


def test_bad_requests_change_nothing(server):
    admin = server.token("admin")
    server.call("POST", f"/v1/tenants/{T}/tls/authorities", admin, {"alias": "short-ca", "subject": "CN=Short CA", "days": 5})
    # days_left moves with the clock (a certificate listed within the second of its issuance
    # can show one day more): the rest of each row must not change.
    def unchanged():
        return [{k: v for k, v in c.items() if k != "days_left"} for c in listing(server, admin)]

    before = unchanged()
    cases = [
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "days": 30}, None),                     # beyond the CA's validity
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "dns_names": ["bad_name!"]}, None),
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "ip_addresses": ["300.1.1.1"]}, None),
        ({"alias": "n", "subject": "CN=n\u001b[2J", "issuer": "short-ca"}, None),
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "self_signed": True}, None),
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "scheme": "bls12381-pop"}, None),
        ({"alias": "n", "subject": "CN=n", "issuer": "no-such-ca"}, 404),
        ({"alias": "n", "subject": "CN=n", "issuer": "short-ca", "usage": "everything"}, None),
    ]
    for request, status in cases:
        r = server.call("POST", f"/v1/tenants/{T}/tls/certificates", admin, request)
        assert 400 <= r.status_code < 500, (request, r.status_code, r.text)
        if status:
            assert r.status_code == status, r.text
        assert "\u001b" not in r.text
    assert unchanged() == before
    keys = server.call("GET", f"/v1/tenants/{T}/keys", admin).json()["keys"]
    assert "n" not in [k["alias"] for k in keys]

    # A disabled CA key issues nothing.
    server.call("POST", f"/v1/tenants/{T}/keys/short-ca/disable", admin)
    problem(server.call("POST", f"/v1/tenants/{T}/tls/certificates", admin, {"alias": "m", "subject": "CN=m", "issuer": "short-ca", "days": 1}), 409)


def test_trust_set_is_for_admins_and_validated(server):
    admin = server.token("admin")
    operator = server.token("operator", tenant=T)
    pin = hashlib.sha256(b"a client key").hexdigest()
    added = server.call("POST", "/v1/tls/trust/pins", admin, {"pin": pin, "label": "client A"})
    assert added.status_code == 200, added.text
    assert [(p["pin"], p["label"]) for p in added.json()["pins"]] == [(pin, "client A")]
    problem(server.call("POST", "/v1/tls/trust/pins", operator, {"pin": pin}), 403)
    problem(server.call("GET", "/v1/tls/trust", operator), 403)
    for bad in ["", "zz" * 32, pin[:-2], "\u001b]0;x\u0007" + pin[:56]]:
        r = server.call("POST", "/v1/tls/trust/pins", admin, {"pin": bad})
        problem(r, 400)
        assert "\u001b" not in r.text and "\u0007" not in r.text
    server.call("POST", f"/v1/tenants/{T}/tls/authorities", admin, {"alias": "client-ca", "subject": "CN=Client CA"})
    with_ca = server.call("POST", "/v1/tls/trust/authorities", admin, {"tenant": T, "alias": "client-ca"})
    assert with_ca.status_code == 200 and [a["alias"] for a in with_ca.json()["authorities"]] == ["client-ca"], with_ca.text
    removed = server.call("POST", "/v1/tls/trust/pins/remove", admin, {"pin": pin}).json()
    assert removed["pins"] == [] and len(removed["authorities"]) == 1
    assert server.call("POST", "/v1/tls/trust/authorities/remove", admin, {"tenant": T, "alias": "client-ca"}).json()["authorities"] == []
    operations = [row["operation"] for row in server.audit_rows()]
    assert operations.count("tls.trust") >= 4


def test_changes_made_through_the_server_apply_to_its_next_handshake(custos, tmp_path):
    """With the poll made too slow to matter, a rotation and a trust change made through
    the server's own API reach its listener at once: the route reloads the TLS context."""
    import time

    import requests

    from server import Server
    from test_tls_reload import Identity, handshake_fails, served, spki_pin_hex

    custos.run("tls", "ca", "create", "--tenant", T, "--alias", "ca", "--subject", "CN=Acme TLS CA")
    custos.run("tls", "issue", "--tenant", T, "--alias", "web", "--issuer", "ca", "--subject", "CN=custos", "--ip", "127.0.0.1", "--usage", "server")
    ca = tmp_path / "ca.pem"
    ca.write_text(custos.run("tls", "export", "--tenant", T, "--alias", "ca").out)
    client = Identity(tmp_path, "api-client")
    custos.run("tls", "trust", "add-pin", client.spki_pin)
    bearer = custos.run("token", "create", "--role", "admin", "--ttl", "1h", "--json").json()["bearer"]
    server = Server(custos, config={"tls": {"key": f"{T}/web", "reload_interval_ms": 3_600_000}}).start()
    try:
        first = spki_pin_hex(served(server, ca, client)[0])
        # verify per call: requests lets $REQUESTS_CA_BUNDLE override a session's own.
        def post(path, body=None, identity=client):
            return requests.post(server.url + path, json=body, cert=identity.pair, verify=str(ca), timeout=30,
                                 headers={"Authorization": f"Bearer {bearer}"})

        rotated = post(f"/v1/tenants/{T}/tls/certificates/web/rotate")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["pin"] != first
        start = time.monotonic()
        assert spki_pin_hex(served(server, ca, client)[0]) == rotated.json()["pin"]
        assert time.monotonic() - start < 1.0

        other = Identity(tmp_path, "api-client-2")
        assert handshake_fails(server, None, other, ca)
        assert post("/v1/tls/trust/pins", {"pin": other.spki_pin}).status_code == 200
        assert not handshake_fails(server, None, other, ca)
        assert post("/v1/tls/trust/pins/remove", {"pin": client.spki_pin}, identity=other).status_code == 200
        assert handshake_fails(server, None, client, ca)

        # Disabling the server's own key stops new handshakes at once (fail closed).
        assert post(f"/v1/tenants/{T}/keys/web/disable", identity=other).status_code == 200
        assert handshake_fails(server, None, other, ca)
    finally:
        server.stop()


def test_openssl_s_client_with_a_certificate_custos_issued(custos, tmp_path):
    """openssl s_client (TLS 1.3, P-384) with a client certificate the keystore CA issued
    from an openssl CSR: accepted while its CA is trusted, refused once revoked, and a
    client outside the trust set is refused; no refused handshake reaches a handler."""
    import subprocess

    from server import Server

    custos.run("tls", "ca", "create", "--tenant", T, "--alias", "ca", "--subject", "CN=Acme TLS CA")
    custos.run("tls", "issue", "--tenant", T, "--alias", "web", "--issuer", "ca", "--subject", "CN=custos", "--ip", "127.0.0.1", "--usage", "server")
    ca = tmp_path / "ca.pem"
    ca.write_text(custos.run("tls", "export", "--tenant", T, "--alias", "ca").out)

    def client(name: str, sign: bool) -> tuple:
        key, csr, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.csr", tmp_path / f"{name}.crt"
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", str(key),
                        "-out", str(csr), "-subj", f"/CN={name}"], check=True, capture_output=True)
        if sign:
            custos.run("tls", "sign-csr", "--tenant", T, "--issuer", "ca", "--csr", str(csr), "--usage", "client", "--out", str(cert))
        else:  # self-signed by openssl: trusted by nobody
            subprocess.run(["openssl", "req", "-x509", "-key", str(key), "-in", str(csr), "-days", "2", "-out", str(cert)], check=True, capture_output=True)
        return cert, key

    issued, stranger = client("issued", True), client("stranger", False)
    custos.run("tls", "trust", "add-ca", "--tenant", T, "--alias", "ca")
    server = Server(custos, config={"tls": {"key": f"{T}/web", "reload_interval_ms": 100}}).start()
    port = server.url.rsplit(":", 1)[1]

    def s_client(identity) -> subprocess.CompletedProcess:
        request = b"GET /v1/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-quiet", "-verify_return_error",
                               "-CAfile", str(ca), "-cert", str(identity[0]), "-key", str(identity[1])],
                              input=request, capture_output=True, timeout=30)


    try:
        accepted = s_client(issued)
        assert b'{"status":"live"}' in accepted.stdout, accepted.stderr.decode(errors="replace")[-500:]
        before = len(server.audit_rows())
        refused = s_client(stranger)
        assert b'"status"' not in refused.stdout
        custos.run("tls", "revoke", "--tenant", T, "--certificate", str(issued[0]))
        import time
        deadline = time.monotonic() + 5
        while b'"status"' in s_client(issued).stdout:
            assert time.monotonic() < deadline, "the revoked certificate is still accepted"
            time.sleep(0.1)
        again = s_client(issued)
        assert b'"status"' not in again.stdout
        # Only the command line's revocation was recorded: no refused handshake reached the server's handlers.
        assert [row["actor"] for row in server.audit_rows()[before:]] == ["cli"]
    finally:
        server.stop()


def test_a_handshake_that_never_finishes_is_closed(custos, tmp_path):
    """A client that opens a connection and sends half a ClientHello (or nothing) holds
    no place for longer than the header timeout."""
    import socket
    import time

    from server import Server

    custos.run("tls", "issue", "--tenant", T, "--alias", "web", "--self-signed", "--subject", "CN=custos", "--ip", "127.0.0.1", "--usage", "server")
    server = Server(custos, config={"server": {"header_timeout_seconds": 1},
                                    "tls": {"key": f"{T}/web", "keystore_trust": False, "client_auth": "none"}}).start()
    host, port = server.url.removeprefix("https://").split(":")
    try:
        for opening in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                raw.sendall(opening)
                start = time.monotonic()
                try:
                    closed = raw.recv(1) == b""
                except ConnectionResetError:
                    closed = True
                assert closed and time.monotonic() - start < 5, f"still open after {time.monotonic() - start:.1f} s"
    finally:
        server.stop()
