"""`custos verify --batch FILE.jsonl`: one output line per input line, in order, with the
right `valid`, an `error` only on malformed lines, and the batch goes on after them."""

from __future__ import annotations

import json
import os

import coincurve
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemes import crypto_keypair, crypto_sign, der_to_raw, keccak256, public_der, public_pem

MSG = b"batch message " + os.urandom(8)


def flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def build_batch() -> tuple[list[str], list[tuple[object, bool | None]]]:
    """Lines of the batch file and, per line, (expected id, expected valid or None for an error)."""
    lines: list[str] = []
    expected: list[tuple[object, bool | None]] = []

    def add(obj, valid):
        lines.append(json.dumps(obj))
        expected.append((obj.get("id") if isinstance(obj, dict) else None, valid))

    ed = crypto_keypair("ed25519")
    ed_sig = crypto_sign("ed25519", ed, MSG)
    ed_raw = ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    p256 = crypto_keypair("ecdsa-p256-sha256")
    p256_sig = crypto_sign("ecdsa-p256-sha256", p256, MSG)
    p384 = crypto_keypair("ecdsa-p384-sha384")
    p384_sig = crypto_sign("ecdsa-p384-sha384", p384, MSG)
    pss = crypto_keypair("rsa-pss-sha256")
    pss_sig = crypto_sign("rsa-pss-sha256", pss, MSG)
    pkcs1 = crypto_keypair("rsa-pkcs1-sha256")
    pkcs1_sig = crypto_sign("rsa-pkcs1-sha256", pkcs1, MSG)
    pq = crypto_keypair("ml-dsa-65")
    pq_sig = crypto_sign("ml-dsa-65", pq, MSG)
    k1 = coincurve.PrivateKey()
    k1_pub = k1.public_key.format(compressed=False).hex()
    rec = k1.sign_recoverable(keccak256(MSG), hasher=None)
    eth_sig = rec[:64] + bytes([rec[64] + 27])

    def req(i, scheme, pub, sig, msg=MSG, **extra):
        return {"id": i, "scheme": scheme, "public_key": pub, "message": msg.hex(), "signature": sig.hex(), **extra}

    add(req("ed-good", "ed25519", ed_raw, ed_sig), True)
    add(req("ed-spki", "ed25519", public_der(ed).hex(), ed_sig), True)
    add(req("ed-pem", "ed25519", public_pem(ed).decode(), ed_sig), True)
    add(req("ed-badsig", "ed25519", ed_raw, flip(ed_sig)), False)
    add(req("ed-badmsg", "ed25519", ed_raw, ed_sig, msg=MSG + b"!"), False)
    lines.append("this line is not JSON {")
    expected.append((None, None))
    add(req("p256-der", "ecdsa-p256-sha256", public_der(p256).hex(), p256_sig, signature_format="der"), True)
    add(req("p256-raw", "ecdsa-p256-sha256", public_pem(p256).decode(), der_to_raw(p256_sig, 32),
            signature_format="raw"), True)
    add(req("p256-bad", "ecdsa-p256-sha256", public_der(p256).hex(), p256_sig, msg=b"other"), False)
    add(req("unknown-scheme", "ed448", ed_raw, ed_sig), None)
    add(req("p384", "ecdsa-p384-sha384", public_der(p384).hex(), p384_sig), True)
    add({"id": "no-signature", "scheme": "ed25519", "public_key": ed_raw, "message": MSG.hex()}, None)
    add(req("not-hex", "ed25519", ed_raw, ed_sig) | {"signature": "xyz"}, None)
    add(req("pss", "rsa-pss-sha256", public_der(pss).hex(), pss_sig), True)
    add(req("pss-bad", "rsa-pss-sha256", public_der(pss).hex(), flip(pss_sig)), False)
    add(req("pkcs1", "rsa-pkcs1-sha256", public_pem(pkcs1).decode(), pkcs1_sig), True)
    lines.append("[1, 2, 3]")
    expected.append((None, None))
    add(req("eth", "ecdsa-secp256k1-keccak256", k1_pub, eth_sig, signature_format="raw"), True)
    add(req("eth-bad", "ecdsa-secp256k1-keccak256", k1_pub, eth_sig, msg=b"x", signature_format="raw"), False)
    add(req("bad-key", "ed25519", "00" * 5, ed_sig), None)
    add(req("mldsa", "ml-dsa-65", public_der(pq).hex(), pq_sig), True)
    add(req("last", "ed25519", ed_raw, ed_sig), True)
    return lines, expected


def check_output(out: str, expected):
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(results) == len(expected), f"{len(results)} output lines for {len(expected)} requests:\n{out}"
    for n, (res, (rid, valid)) in enumerate(zip(results, expected), start=1):
        where = f"line {n} (id {rid!r}): {res}"
        assert res.get("id") == rid, where
        if valid is None:
            assert isinstance(res.get("error"), str) and res["error"], f"expected an error on {where}"
            assert res.get("valid") is False, where
        else:
            assert res.get("valid") is valid, where
            assert "error" not in res or res["error"] in (None, ""), f"unexpected error on {where}"


def test_batch_mixed(verifier):
    lines, expected = build_batch()
    batch = verifier.file("\n".join(lines) + "\n", ".jsonl")
    res = verifier.run("verify", "--batch", batch, expect=0)
    check_output(res.out, expected)
    res = verifier.run("verify", "--batch", batch, "--json", expect=0)
    check_output(res.out, expected)
    assert not (verifier.workdir / "does-not-exist").exists()


def test_batch_with_custos_signatures(custos):
    """Signatures Custos made, checked by Custos' batch verifier against exported keys."""
    lines = []
    for i, scheme in enumerate(["ed25519", "ecdsa-p256-sha256", "ecdsa-secp256k1-sha256", "rsa-pss-sha256"]):
        custos.generate(f"k{i}", scheme)
        sig = custos.sign(f"k{i}", MSG)
        pub = custos.public(f"k{i}", "der").hex()
        lines.append(json.dumps({"id": f"k{i}", "scheme": scheme, "public_key": pub, "message": MSG.hex(),
                                 "signature": sig.hex()}))
        lines.append(json.dumps({"id": f"k{i}-bad", "scheme": scheme, "public_key": pub,
                                 "message": (MSG + b".").hex(), "signature": sig.hex()}))
    res = custos.run("verify", "--batch", custos.file("\n".join(lines) + "\n", ".jsonl"))
    out = [json.loads(x) for x in res.out.splitlines() if x.strip()]
    assert [(o["id"], o["valid"]) for o in out] == [
        (json.loads(x)["id"], not json.loads(x)["id"].endswith("-bad")) for x in lines
    ]


def test_batch_of_many(verifier):
    key = crypto_keypair("ed25519")
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    lines = []
    for i in range(500):
        m = i.to_bytes(4, "big")
        sig = crypto_sign("ed25519", key, m)
        if i % 7 == 0:
            sig = flip(sig)
        lines.append(json.dumps({"id": str(i), "scheme": "ed25519", "public_key": pub, "message": m.hex(),
                                 "signature": sig.hex()}))
    res = verifier.run("verify", "--batch", verifier.file("\n".join(lines) + "\n", ".jsonl"))
    out = [json.loads(x) for x in res.out.splitlines() if x.strip()]
    assert [o["id"] for o in out] == [str(i) for i in range(500)]
    assert [o["valid"] for o in out] == [i % 7 != 0 for i in range(500)]
