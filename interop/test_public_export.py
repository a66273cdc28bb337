"""Public keys exported by Custos (PEM, DER, raw, JWK) load in OpenSSL and pyca/cryptography."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemes import load_public, openssl

# Scheme → (cryptography type, OpenSSL's `-text` header). ML-DSA: OpenSSL 3.0 has no ML-DSA.
EXPORTABLE = {
    "ed25519": (ed25519.Ed25519PublicKey, "ED25519 Public-Key"),
    "ecdsa-p256-sha256": (ec.EllipticCurvePublicKey, "NIST CURVE: P-256"),
    "ecdsa-p384-sha384": (ec.EllipticCurvePublicKey, "NIST CURVE: P-384"),
    "ecdsa-secp256k1-sha256": (ec.EllipticCurvePublicKey, "ASN1 OID: secp256k1"),
    "ecdsa-secp256k1-keccak256": (ec.EllipticCurvePublicKey, "ASN1 OID: secp256k1"),
    "rsa-pss-sha256": (rsa.RSAPublicKey, "Public-Key: (2048 bit)"),
    "rsa-pkcs1-sha256": (rsa.RSAPublicKey, "Public-Key: (2048 bit)"),
    "ml-dsa-65": (mldsa.MLDSA65PublicKey, None),
    "x25519": (x25519.X25519PublicKey, "X25519 Public-Key"),
    "ecdh-p256": (ec.EllipticCurvePublicKey, "NIST CURVE: P-256"),
    "ecdh-p384": (ec.EllipticCurvePublicKey, "NIST CURVE: P-384"),
}


@pytest.mark.parametrize("scheme", list(EXPORTABLE))
def test_pem_loads_in_openssl_and_cryptography(custos, scheme):
    kind, openssl_header = EXPORTABLE[scheme]
    custos.generate("k", scheme)
    pem = custos.public("k")
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----"), pem[:80]
    assert b"PRIVATE" not in pem
    pub = load_public(pem)
    assert isinstance(pub, kind)
    if openssl_header:
        text = openssl("pkey", "-pubin", "-in", custos.file(pem, ".pem"), "-noout", "-text").stdout.decode()
        assert openssl_header in text, text
    # DER (hex on stdout) is the same SubjectPublicKeyInfo.
    der = custos.public("k", "der")
    assert der == pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # PEM to a file with --out.
    out = custos.workdir / "out.pem"
    custos.run("key", "public", "--tenant", custos.tenant, "k", "--out", out)
    assert load_public(out.read_bytes()) == pub


@pytest.mark.parametrize("scheme", ["ed25519", "ecdsa-p256-sha256", "ecdsa-secp256k1-sha256", "x25519"])
def test_raw_public_key(custos, scheme):
    custos.generate("k", scheme)
    pub = load_public(custos.public("k"))
    raw = custos.public("k", "raw")
    if isinstance(pub, ec.EllipticCurvePublicKey):
        # SEC1 point, compressed or uncompressed: the same point either way.
        assert ec.EllipticCurvePublicKey.from_encoded_point(pub.curve, raw) == pub
    else:
        assert raw == pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64u(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def int_b64u(data: str) -> int:
    return int.from_bytes(b64u(data), "big")


@pytest.mark.parametrize("scheme,kty,crv", [
    ("ed25519", "OKP", "Ed25519"),
    ("ecdsa-p256-sha256", "EC", "P-256"),
    ("ecdsa-p384-sha384", "EC", "P-384"),
    ("ecdsa-secp256k1-sha256", "EC", "secp256k1"),
    ("rsa-pss-sha256", "RSA", None),
])
def test_jwk(custos, scheme, kty, crv):
    import json

    custos.generate("k", scheme)
    pub = load_public(custos.public("k"))
    jwk = json.loads(custos.public("k", "jwk"))
    assert jwk["kty"] == kty
    for private_member in ("d", "p", "q", "dp", "dq", "qi"):
        assert private_member not in jwk, f"JWK of a public key carries {private_member!r}"
    if kty == "OKP":
        assert jwk["crv"] == crv and b64u(jwk["x"]) == pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
    elif kty == "EC":
        nums = pub.public_numbers()
        assert jwk["crv"] == crv and int_b64u(jwk["x"]) == nums.x and int_b64u(jwk["y"]) == nums.y
    else:
        nums = pub.public_numbers()
        assert int_b64u(jwk["n"]) == nums.n and int_b64u(jwk["e"]) == nums.e
