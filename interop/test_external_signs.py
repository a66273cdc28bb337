"""Signatures made by OpenSSL, pyca/cryptography, coincurve and dilithium-py verify in
Custos (`custos verify --scheme ... --public-key ...`, no data directory needed), and a
tampered message or signature gives `valid: false` with exit code 1."""

from __future__ import annotations

import os

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dilithium_py.ml_dsa import ML_DSA_65

from schemes import (
    ECDSA_SCHEMES,
    OPENSSL_SCHEMES,
    SCHEMES,
    SIGNING_SCHEMES,
    crypto_keypair,
    crypto_sign,
    der_to_raw,
    keccak256,
    openssl_genpkey,
    openssl_pubout,
    openssl_sign,
    public_der,
    public_pem,
)

MESSAGE = b"signed elsewhere, verified by Custos " + os.urandom(8)


def tampered(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x80]) + data[1:]


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("scheme", OPENSSL_SCHEMES)
def test_openssl_signature_verifies_in_custos(verifier, tmp_path, scheme):
    key = openssl_genpkey(scheme, tmp_path / "key.pem")
    pub = openssl_pubout(key, tmp_path / "pub.pem")
    msg = verifier.file(MESSAGE)
    sig = openssl_sign(scheme, key, msg, tmp_path / "sig")
    verifier.verify(scheme, pub, MESSAGE, sig)
    verifier.verify(scheme, pub, tampered(MESSAGE), sig, expect=1)
    verifier.verify(scheme, pub, MESSAGE, flip_last(sig), expect=1)
    # The same public key as SPKI DER hex.
    spki_hex = openssl_pubout(key, tmp_path / "pub.der", der=True).read_bytes().hex()
    verifier.verify(scheme, spki_hex, MESSAGE, sig)
    verifier.verify(scheme, spki_hex, tampered(MESSAGE), sig, expect=1)
    assert not (tmp_path / "does-not-exist").exists(), "verify --scheme created a data directory"


@pytest.mark.parametrize("scheme", [s for s in SIGNING_SCHEMES if s != "ecdsa-secp256k1-keccak256"])
def test_cryptography_signature_verifies_in_custos(verifier, scheme):
    key = crypto_keypair(scheme)
    sig = crypto_sign(scheme, key, MESSAGE)
    pem = verifier.file(public_pem(key), ".pem")
    verifier.verify(scheme, pem, MESSAGE, sig)
    verifier.verify(scheme, pem, tampered(MESSAGE), sig, expect=1)
    verifier.verify(scheme, public_der(key).hex(), MESSAGE, sig)
    # Human-readable output without --json.
    args = ["verify", "--scheme", scheme, "--public-key", pem, "--message-file", verifier.file(MESSAGE),
            "--signature", sig.hex()]
    assert verifier.run(*args, expect=0).out.strip() == "valid"
    args[args.index("--signature") + 1] = flip_last(sig).hex()
    assert verifier.run(*args, expect=1).out.strip() == "invalid"


@pytest.mark.parametrize("scheme", ECDSA_SCHEMES)
def test_raw_ecdsa_signature_verifies_in_custos(verifier, scheme):
    size = SCHEMES[scheme].field_bytes
    key = crypto_keypair(scheme)
    raw = der_to_raw(crypto_sign(scheme, key, MESSAGE), size)
    pem = verifier.file(public_pem(key), ".pem")
    verifier.verify(scheme, pem, MESSAGE, raw, fmt="raw")
    verifier.verify(scheme, pem, tampered(MESSAGE), raw, fmt="raw", expect=1)
    # Public key as a raw uncompressed point (hex).
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    verifier.verify(scheme, point.hex(), MESSAGE, raw, fmt="raw")


def test_raw_ed25519_public_key_hex(verifier):
    key = crypto_keypair("ed25519")
    sig = crypto_sign("ed25519", key, MESSAGE)
    raw_pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    verifier.verify("ed25519", raw_pub.hex(), MESSAGE, sig)
    verifier.verify("ed25519", raw_pub.hex(), tampered(MESSAGE), sig, expect=1)


def test_coincurve_secp256k1_sha256_verifies_in_custos(verifier):
    key = coincurve.PrivateKey()
    sig = key.sign(MESSAGE)  # DER, SHA-256, low-s
    compressed = key.public_key.format(compressed=True)
    uncompressed = key.public_key.format(compressed=False)
    for pub in (uncompressed.hex(), compressed.hex()):
        verifier.verify("ecdsa-secp256k1-sha256", pub, MESSAGE, sig)
        verifier.verify("ecdsa-secp256k1-sha256", pub, tampered(MESSAGE), sig, expect=1)


def test_coincurve_keccak256_recoverable_verifies_in_custos(verifier):
    key = coincurve.PrivateKey()
    rec = key.sign_recoverable(keccak256(MESSAGE), hasher=None)  # r‖s‖recid
    eth_sig = rec[:64] + bytes([rec[64] + 27])                 # r‖s‖v, v = 27/28
    pub = key.public_key.format(compressed=False).hex()
    verifier.verify("ecdsa-secp256k1-keccak256", pub, MESSAGE, eth_sig, fmt="raw")
    verifier.verify("ecdsa-secp256k1-keccak256", pub, tampered(MESSAGE), eth_sig, fmt="raw", expect=1)
    verifier.verify("ecdsa-secp256k1-keccak256", pub, MESSAGE, eth_sig)  # r‖s‖v is the default layout
    # v pointing at the other recovery id: not this key's signature.
    wrong_v = eth_sig[:64] + bytes([55 - eth_sig[64]])
    verifier.verify("ecdsa-secp256k1-keccak256", pub, MESSAGE, wrong_v, fmt="raw", expect=1)
    # A 64-byte r‖s without v is not an Ethereum signature: an error.
    verifier.verify("ecdsa-secp256k1-keccak256", pub, MESSAGE, eth_sig[:64], fmt="raw", expect=2)


def test_dilithium_py_ml_dsa_65_verifies_in_custos(verifier):
    pk, sk = ML_DSA_65.keygen()
    sig = ML_DSA_65.sign(sk, MESSAGE)
    pem = public_pem_of_mldsa(pk)
    verifier.verify("ml-dsa-65", verifier.file(pem, ".pem"), MESSAGE, sig)
    verifier.verify("ml-dsa-65", verifier.file(pem, ".pem"), tampered(MESSAGE), sig, expect=1)
    verifier.verify("ml-dsa-65", pk.hex(), MESSAGE, sig)


def public_pem_of_mldsa(raw: bytes) -> bytes:
    return mldsa.MLDSA65PublicKey.from_public_bytes(raw).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_verify_bad_inputs_are_errors(verifier):
    key = crypto_keypair("ed25519")
    sig = crypto_sign("ed25519", key, MESSAGE)
    pem = verifier.file(public_pem(key), ".pem")
    msg = verifier.file(MESSAGE)
    base = ["verify", "--message-file", msg]
    # unknown scheme
    verifier.fails(*base, "--scheme", "ed448", "--public-key", pem, "--signature", sig.hex())
    # signature not hex
    verifier.fails(*base, "--scheme", "ed25519", "--public-key", pem, "--signature", "zz" + sig.hex())
    # public key file that is not a key
    verifier.fails(*base, "--scheme", "ed25519", "--public-key", verifier.file(b"-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                                                              b"-----END PUBLIC KEY-----\n", ".pem"),
                   "--signature", sig.hex())
    # a P-256 key offered for an Ed25519 signature
    p256 = verifier.file(public_pem(crypto_keypair("ecdsa-p256-sha256")), ".pem")
    res = verifier.run(*base, "--scheme", "ed25519", "--public-key", p256, "--signature", sig.hex(), expect=None)
    assert res.code in (1, 2), res
