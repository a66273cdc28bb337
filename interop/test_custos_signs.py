"""Signatures made by Custos verify with independent implementations."""

from __future__ import annotations

import os

import coincurve
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dilithium_py.ml_dsa import ML_DSA_65

from schemes import (
    ECDSA_SCHEMES,
    OPENSSL_SCHEMES,
    SCHEMES,
    SECP256K1_N,
    SIGNING_SCHEMES,
    crypto_verify,
    is_low_s,
    keccak256,
    load_public,
    openssl_verify,
)

MESSAGE = b"Custos interop: transfer 100 units from A to B\n" + os.urandom(16)


def tampered(message: bytes) -> bytes:
    return bytes([message[0] ^ 1]) + message[1:]


@pytest.mark.parametrize("scheme", OPENSSL_SCHEMES)
def test_openssl_verifies_custos_signature(custos, scheme):
    custos.generate("k", scheme)
    pub = custos.public_pem_file("k")
    sig = custos.sign("k", MESSAGE)
    msg_file = custos.file(MESSAGE)
    assert openssl_verify(scheme, pub, msg_file, custos.file(sig))
    assert not openssl_verify(scheme, pub, custos.file(tampered(MESSAGE)), custos.file(sig))


@pytest.mark.parametrize("scheme", [s for s in SIGNING_SCHEMES if s != "ecdsa-secp256k1-keccak256"])
def test_cryptography_verifies_custos_signature(custos, scheme):
    custos.generate("k", scheme)
    pem = custos.public("k")
    sig = custos.sign("k", MESSAGE)
    assert crypto_verify(scheme, pem, MESSAGE, sig)
    assert not crypto_verify(scheme, pem, tampered(MESSAGE), sig)


@pytest.mark.parametrize("scheme", ECDSA_SCHEMES)
def test_ecdsa_der_and_raw_formats(custos, scheme):
    size = SCHEMES[scheme].field_bytes
    custos.generate("k", scheme)
    pem = custos.public("k")
    der = custos.sign("k", MESSAGE, "der")
    raw = custos.sign("k", MESSAGE, "raw")
    assert der[0] == 0x30, "DER ECDSA signature must be a SEQUENCE"
    assert len(raw) == 2 * size
    assert crypto_verify(scheme, pem, MESSAGE, der)
    assert crypto_verify(scheme, pem, MESSAGE, raw, fmt="raw")  # r‖s → encode_dss_signature
    assert not crypto_verify(scheme, pem, tampered(MESSAGE), raw, fmt="raw")
    # The default format is DER.
    default = custos.sign("k", MESSAGE)
    assert default[0] == 0x30 and crypto_verify(scheme, pem, MESSAGE, default)


@pytest.mark.parametrize("scheme", ["ed25519", "ecdsa-p256-sha256", "ecdsa-secp256k1-sha256", "rsa-pss-sha256",
                                    "ml-dsa-65"])
def test_empty_and_large_messages(custos, scheme):
    custos.generate("k", scheme)
    pem = custos.public("k")
    for message in (b"", os.urandom(1 << 20)):
        sig = custos.sign("k", message)
        assert crypto_verify(scheme, pem, message, sig), f"{scheme}: {len(message)}-byte message"


def test_message_hex_equals_message_file(custos):
    custos.generate("k", "ed25519")
    by_hex = custos.run("sign", "--tenant", custos.tenant, "--key", "k", "--message-hex", MESSAGE.hex()).hex()
    assert by_hex == custos.sign("k", MESSAGE)  # Ed25519 is deterministic


def test_sign_json_output(custos):
    custos.generate("k", "ecdsa-p256-sha256")
    doc = custos.sign_json("k", MESSAGE)
    assert set(doc) >= {"signature", "key_id", "alias", "version", "scheme"}
    assert doc["alias"] == "k" and doc["version"] == 1 and doc["scheme"] == "ecdsa-p256-sha256"
    assert crypto_verify("ecdsa-p256-sha256", custos.public("k"), MESSAGE, bytes.fromhex(doc["signature"]))


def test_secp256k1_sha256_with_coincurve(custos):
    custos.generate("k", "ecdsa-secp256k1-sha256")
    spki = load_public(custos.public("k"))
    pub = coincurve.PublicKey(spki.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))
    for _ in range(8):  # low-s must hold on every signature, not by chance
        sig = custos.sign("k", MESSAGE)
        assert is_low_s(sig), "secp256k1 signatures must be low-s"
        assert pub.verify(sig, MESSAGE)  # coincurve hashes with SHA-256 by default; DER signature
        assert not pub.verify(sig, tampered(MESSAGE))


def test_secp256k1_keccak256_recoverable(custos):
    custos.generate("eth", "ecdsa-secp256k1-keccak256")
    pem = custos.public("eth")
    exported = coincurve.PublicKey(load_public(pem).public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    for i in range(8):
        message = MESSAGE + bytes([i])
        digest = keccak256(message)
        sig = custos.sign("eth", message, "raw")
        assert len(sig) == 65, f"keccak256 raw signature must be r‖s‖v (65 bytes), got {len(sig)}"
        r, s, v = sig[:32], sig[32:64], sig[64]
        assert v in (27, 28), f"v must be 27 or 28, got {v}"
        assert int.from_bytes(s, "big") <= SECP256K1_N // 2, "secp256k1 signatures must be low-s"
        recovered = coincurve.PublicKey.from_signature_and_message(r + s + bytes([v - 27]), digest, hasher=None)
        assert recovered.format(compressed=False) == exported.format(compressed=False)
        assert crypto_verify("ecdsa-secp256k1-keccak256", pem, message, sig[:64], fmt="raw")
        # Another message: recovery yields another key.
        other = coincurve.PublicKey.from_signature_and_message(r + s + bytes([v - 27]), keccak256(tampered(message)),
                                                               hasher=None)
        assert other.format() != exported.format()


def test_secp256k1_keccak256_is_always_r_s_v(custos):
    """Ethereum signatures are r‖s‖v whatever the request: the default is 65 bytes and
    DER is refused with an error (Custos' choice for this scheme)."""
    custos.generate("eth", "ecdsa-secp256k1-keccak256")
    sig = custos.sign("eth", MESSAGE)
    assert len(sig) == 65 and sig[64] in (27, 28)
    custos.fails("sign", "--tenant", custos.tenant, "--key", "eth", "--message-hex", MESSAGE.hex(),
                 "--signature-format", "der")


def test_ml_dsa_65_with_cryptography_and_dilithium_py(custos):
    custos.generate("pq", "ml-dsa-65")
    pem = custos.public("pq")
    raw = custos.public("pq", "raw")
    assert len(raw) == 1952
    assert load_public(pem).public_bytes_raw() == raw
    sig = custos.sign("pq", MESSAGE)
    assert len(sig) == 3309
    assert crypto_verify("ml-dsa-65", pem, MESSAGE, sig)
    assert ML_DSA_65.verify(raw, MESSAGE, sig)  # empty context, as FIPS 204 pure ML-DSA
    assert not ML_DSA_65.verify(raw, tampered(MESSAGE), sig)


def test_der_matches_pem(custos):
    custos.generate("k", "ecdsa-p384-sha384")
    pem = custos.public("k")
    der = custos.public("k", "der")
    assert load_public(der) == load_public(pem)
    out = custos.workdir / "pub.der"
    custos.run("key", "public", "--tenant", custos.tenant, "k", "--format", "der", "--out", out)
    assert out.read_bytes() == der

