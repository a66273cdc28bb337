"""Independent implementations of every Custos signing scheme: OpenSSL's command line,
pyca/cryptography, coincurve (libsecp256k1), pycryptodome (Keccak-256) and dilithium-py.

Nothing here calls Custos.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from Crypto.Hash import keccak
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class Scheme:
    name: str
    kind: str                      # ed25519 | ecdsa | rsa-pss | rsa-pkcs1 | ml-dsa
    curve: type | None = None      # cryptography curve class for ECDSA
    hash: type | None = None       # cryptography hash class
    openssl_curve: str | None = None
    openssl_digest: str | None = None
    field_bytes: int = 0           # ECDSA scalar size (raw r‖s is 2× this)


SCHEMES = {
    s.name: s
    for s in [
        Scheme("ed25519", "ed25519"),
        Scheme("ecdsa-p256-sha256", "ecdsa", ec.SECP256R1, hashes.SHA256, "P-256", "-sha256", 32),
        Scheme("ecdsa-p384-sha384", "ecdsa", ec.SECP384R1, hashes.SHA384, "P-384", "-sha384", 48),
        Scheme("ecdsa-secp256k1-sha256", "ecdsa", ec.SECP256K1, hashes.SHA256, "secp256k1", "-sha256", 32),
        Scheme("ecdsa-secp256k1-keccak256", "ecdsa-keccak", ec.SECP256K1, None, "secp256k1", None, 32),
        Scheme("rsa-pss-sha256", "rsa-pss", None, hashes.SHA256, None, "-sha256"),
        Scheme("rsa-pkcs1-sha256", "rsa-pkcs1", None, hashes.SHA256, None, "-sha256"),
        Scheme("ml-dsa-65", "ml-dsa"),
    ]
}
SIGNING_SCHEMES = list(SCHEMES)
ECDSA_SCHEMES = ["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ecdsa-secp256k1-sha256"]
# Schemes the system `openssl` (3.0) can sign and verify from the command line.
OPENSSL_SCHEMES = ["ed25519", *ECDSA_SCHEMES, "rsa-pss-sha256", "rsa-pkcs1-sha256"]

PSS_OPTS = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"]


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


# ---------------------------------------------------------------------------------------
# ECDSA encodings
# ---------------------------------------------------------------------------------------

def der_to_raw(sig: bytes, size: int) -> bytes:
    r, s = decode_dss_signature(sig)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def raw_to_der(sig: bytes, size: int) -> bytes:
    assert len(sig) == 2 * size, f"raw ECDSA signature is {len(sig)} bytes, expected {2 * size}"
    return encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))


def is_low_s(der_sig: bytes) -> bool:
    _, s = decode_dss_signature(der_sig)
    return s <= SECP256K1_N // 2


# ---------------------------------------------------------------------------------------
# pyca/cryptography
# ---------------------------------------------------------------------------------------

def load_public(pem_or_der: bytes):
    if pem_or_der.lstrip().startswith(b"-----"):
        return serialization.load_pem_public_key(pem_or_der)
    return serialization.load_der_public_key(pem_or_der)


def crypto_verify(scheme: str, public_key: bytes, message: bytes, signature: bytes, fmt: str = "der") -> bool:
    """Verify with pyca/cryptography; public_key is PEM or SPKI DER."""
    sc = SCHEMES[scheme]
    pub = load_public(public_key)
    try:
        if sc.kind == "ed25519":
            assert isinstance(pub, ed25519.Ed25519PublicKey)
            pub.verify(signature, message)
        elif sc.kind in ("ecdsa", "ecdsa-keccak"):
            assert isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, sc.curve)
            if fmt == "raw":
                signature = raw_to_der(signature[: 2 * sc.field_bytes], sc.field_bytes)
            if sc.kind == "ecdsa-keccak":
                pub.verify(signature, keccak256(message), ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                pub.verify(signature, message, ec.ECDSA(sc.hash()))
        elif sc.kind == "rsa-pss":
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
        elif sc.kind == "rsa-pkcs1":
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif sc.kind == "ml-dsa":
            assert isinstance(pub, mldsa.MLDSA65PublicKey)
            pub.verify(signature, message)
        else:
            raise AssertionError(scheme)
    except InvalidSignature:
        return False
    return True


def crypto_keypair(scheme: str):
    sc = SCHEMES[scheme]
    if sc.kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if sc.kind in ("ecdsa", "ecdsa-keccak"):
        return ec.generate_private_key(sc.curve())
    if sc.kind in ("rsa-pss", "rsa-pkcs1"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if sc.kind == "ml-dsa":
        return mldsa.MLDSA65PrivateKey.generate()
    raise AssertionError(scheme)


def crypto_sign(scheme: str, key, message: bytes) -> bytes:
    """Sign with pyca/cryptography; ECDSA signatures come out DER."""
    sc = SCHEMES[scheme]
    if sc.kind in ("ed25519", "ml-dsa"):
        return key.sign(message)
    if sc.kind == "ecdsa":
        return key.sign(message, ec.ECDSA(sc.hash()))
    if sc.kind == "ecdsa-keccak":
        return key.sign(keccak256(message), ec.ECDSA(Prehashed(hashes.SHA256())))
    if sc.kind == "rsa-pss":
        return key.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    if sc.kind == "rsa-pkcs1":
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    raise AssertionError(scheme)


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_der(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------------------------------
# The openssl command line
# ---------------------------------------------------------------------------------------

def openssl(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["openssl", *[str(a) for a in args]], capture_output=True, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, f"openssl {' '.join(map(str, args))}: {proc.stderr.decode(errors='replace')}"
    return proc


def openssl_genpkey(scheme: str, out: Path) -> Path:
    sc = SCHEMES[scheme]
    if sc.kind == "ed25519":
        openssl("genpkey", "-algorithm", "ed25519", "-out", out)
    elif sc.kind in ("ecdsa", "ecdsa-keccak"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{sc.openssl_curve}",
                "-pkeyopt", "ec_param_enc:named_curve", "-out", out)
    elif sc.kind in ("rsa-pss", "rsa-pkcs1"):
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", out)
    else:
        raise AssertionError(f"openssl 3.0 cannot generate {scheme}")
    return out


def openssl_pubout(key: Path, out: Path, der: bool = False) -> Path:
    openssl("pkey", "-in", key, "-pubout", *(["-outform", "DER"] if der else []), "-out", out)
    return out


def openssl_sign(scheme: str, key: Path, message: Path, out: Path) -> bytes:
    """Sign with openssl; ECDSA signatures come out DER."""
    sc = SCHEMES[scheme]
    if sc.kind == "ed25519":
        openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", message, "-out", out)
    elif sc.kind == "ecdsa":
        openssl("dgst", sc.openssl_digest, "-sign", key, "-out", out, message)
    elif sc.kind == "rsa-pss":
        openssl("dgst", "-sha256", "-sign", key, *PSS_OPTS, "-out", out, message)
    elif sc.kind == "rsa-pkcs1":
        openssl("dgst", "-sha256", "-sign", key, "-out", out, message)
    else:
        raise AssertionError(f"openssl cannot sign {scheme}")
    return out.read_bytes()


def openssl_verify(scheme: str, public_pem_file: Path, message: Path, signature: Path) -> bool:
    sc = SCHEMES[scheme]
    if sc.kind == "ed25519":
        proc = openssl("pkeyutl", "-verify", "-pubin", "-inkey", public_pem_file, "-rawin",
                       "-in", message, "-sigfile", signature, check=False)
    elif sc.kind == "ecdsa":
        proc = openssl("dgst", sc.openssl_digest, "-verify", public_pem_file, "-signature", signature, message,
                       check=False)
    elif sc.kind == "rsa-pss":
        proc = openssl("dgst", "-sha256", "-verify", public_pem_file, *PSS_OPTS, "-signature", signature, message,
                       check=False)
    elif sc.kind == "rsa-pkcs1":
        proc = openssl("dgst", "-sha256", "-verify", public_pem_file, "-signature", signature, message, check=False)
    else:
        raise AssertionError(f"openssl cannot verify {scheme}")
    out = proc.stdout.decode(errors="replace")
    ok = proc.returncode == 0 and ("Verified OK" in out or "Signature Verified Successfully" in out)
    return ok
