"""Mutual TLS 1.3: only clients with a valid certificate reach the API."""

from __future__ import annotations

import datetime
import hashlib
import ssl
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server import Server

NOW = datetime.datetime.now(datetime.timezone.utc)


def make_cert(directory: Path, name: str, issuer=None, *, ca=False, days=(-1, 30), san_ip=None):
    """A P-256 certificate (self-signed when issuer is None); returns (cert, key, cert_path, key_path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = (issuer[0], issuer[1]) if issuer else (None, key)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=days[0]))
               .not_valid_after(NOW + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san_ip:
        import ipaddress
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key, cert_path, key_path


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_cert(d, "client-ca", ca=True, days=(-10, 365))
    other_ca = make_cert(d, "other-ca", ca=True, days=(-10, 365))
    server_ca = make_cert(d, "server-ca", ca=True, days=(-10, 365))
    return {
        "dir": d,
        "ca": ca,
        "server_ca": server_ca,
        "server": make_cert(d, "server", server_ca[:2], san_ip="127.0.0.1"),
        "good": make_cert(d, "good-client", ca[:2]),
        "expired": make_cert(d, "expired-client", ca[:2], days=(-30, -1)),
        "unknown": make_cert(d, "unknown-client", other_ca[:2]),
        "self": make_cert(d, "self-signed-client"),
        "self_expired": make_cert(d, "self-signed-expired", days=(-30, -1)),
    }


def start(custos, pki, **tls) -> Server:
    config = {"tls": {"certificate": str(pki["server"][2]), "private_key": str(pki["server"][3]), **tls}}
    server = Server(custos, config=config).start()
    assert server.url.startswith("https://")
    return server


def get(server: Server, pki, client=None, **kwargs):
    cert = (str(client[2]), str(client[3])) if client else None
    return requests.get(server.url + "/v1/health/live", cert=cert, verify=str(pki["server_ca"][2]), timeout=10, **kwargs)


def refused(server: Server, pki, client=None):
    before = len(server.audit_rows())
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        get(server, pki, client)
    # Not even the authentication middleware saw it (it would have audited a refusal).
    token_before = before
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(server.url + "/v1/tenants", headers={"Authorization": "Bearer cst_0000000000000000_" + "A" * 43},
                     cert=(str(client[2]), str(client[3])) if client else None, verify=str(pki["server_ca"][2]), timeout=10)
    assert len(server.audit_rows()) == token_before


def test_client_ca(custos, pki):
    server = start(custos, pki, client_ca=str(pki["ca"][2]))
    try:
        assert get(server, pki, pki["good"]).json() == {"status": "live"}
        refused(server, pki, None)
        refused(server, pki, pki["unknown"])
        refused(server, pki, pki["expired"])
        refused(server, pki, pki["self"])
        # With a valid certificate, a token is still required.
        r = requests.get(server.url + "/v1/tenants", cert=(str(pki["good"][2]), str(pki["good"][3])),
                         verify=str(pki["server_ca"][2]), timeout=10)
        assert r.status_code == 401
    finally:
        server.stop()


def test_pinned_client_certificates(custos, pki):
    def pin(entry):
        return hashlib.sha256(entry[0].public_bytes(serialization.Encoding.DER)).hexdigest()

    def spki_pin(entry):
        """RFC 7469: SHA-256 of the SubjectPublicKeyInfo (what a pin means now)."""
        spki = entry[1].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(spki).hexdigest()

    key_pinned = make_cert(pki["dir"], "key-pinned-client")
    # Whole-certificate pins (the older meaning) and a public-key pin, side by side.
    server = start(custos, pki, client_pins=",".join([pin(pki["self"]), pin(pki["self_expired"]), spki_pin(key_pinned)]))
    try:
        assert get(server, pki, pki["self"]).status_code == 200
        assert get(server, pki, key_pinned).status_code == 200
        refused(server, pki, None)
        refused(server, pki, pki["good"])          # a CA-signed certificate that is not pinned
        refused(server, pki, pki["self_expired"])  # pinned but expired
    finally:
        server.stop()


def test_tls_13_only(custos, pki):
    server = start(custos, pki)
    try:
        assert get(server, pki).status_code == 200  # no client certificate required here
        context = ssl.create_default_context(cafile=str(pki["server_ca"][2]))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        import socket
        host, port = server.url.removeprefix("https://").split(":")
        with pytest.raises(ssl.SSLError):
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname=host):
                    pass
    finally:
        server.stop()


def test_bad_tls_configuration_is_a_clear_error(custos, pki):
    server = Server(custos, config={"tls": {"certificate": str(pki["server"][2])}})
    res = custos.run("serve", "--config", str(server.config_path), expect=2)
    assert "tls.certificate and tls.private_key go together" in res.err
    server = Server(custos, config={"tls": {"certificate": "/nonexistent.crt", "private_key": "/nonexistent.key"}})
    res = custos.run("serve", "--config", str(server.config_path), expect=2)
    assert "cannot read TLS certificate /nonexistent.crt: no such file" in res.err
