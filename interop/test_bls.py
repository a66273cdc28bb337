"""BLS12-381 (bls12381-pop) against py_ecc (the Ethereum reference) and blst (via blspy).

Keys, signatures, proofs of possession and aggregates made by Custos verify in both
peers, and theirs verify in Custos (`custos verify --batch`), for random messages and for
aggregates of 1, 7 and 100 signers. py_ecc is pure Python and slow, so it checks the
1- and 7-signer cases; blst checks all three.
"""
from __future__ import annotations

import json
import os
import random

import pytest
from blspy import G1Element, G2Element, PopSchemeMPL
from py_ecc.bls import G2ProofOfPossession as PyEcc
from server import Server, b64, unb64

SCHEME = "bls12381-pop"
RNG = random.Random(0xB15)


def random_message() -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(RNG.randint(0, 200)))


def custos_signers(custos, count: int, message: bytes):
    """Generate `count` BLS keys in Custos; return (public key, proof, signature) for each."""
    custos.run("key", "generate", "--tenant", custos.tenant, "--alias", "bls", "--scheme", SCHEME,
               "--category", "CONSENSUS", *(["--count", count] if count > 1 else []))
    aliases = ["bls"] if count == 1 else [f"bls-{i}" for i in range(1, count + 1)]
    if count > 7:
        # Many signers: through the HTTP API, one server instead of three processes per key.
        server = Server(custos).start()
        try:
            token = server.token("admin", custos.tenant)
            signers = []
            for alias in aliases:
                path = f"/v1/tenants/{custos.tenant}/keys/{alias}"
                public = unb64(server.call("GET", path + "/public", token, params={"format": "raw"}).json()["public_key"])
                proof = unb64(server.call("POST", path + "/pop", token).json()["proof_of_possession"])
                signature = unb64(server.call("POST", path + "/sign", token, {"message": b64(message)}).json()["signature"])
                assert len(public) == 48 and len(proof) == 96 and len(signature) == 96
                signers.append((public, proof, signature))
            return signers
        finally:
            server.stop()
    message_file = custos.file(message)
    signers = []
    for alias in aliases:
        public = custos.public(alias, "raw")
        proof = custos.run("key", "pop", "--tenant", custos.tenant, alias).hex()
        signature = custos.run("sign", "--tenant", custos.tenant, "--key", alias, "--message-file", message_file).hex()
        assert len(public) == 48 and len(proof) == 96 and len(signature) == 96
        signers.append((public, proof, signature))
    return signers


def batch(custos, requests: list[dict]) -> list[dict]:
    path = custos.file("\n".join(json.dumps(r) for r in requests) + "\n", ".jsonl")
    results = custos.run("verify", "--batch", path).json_lines()
    assert len(results) == len(requests)
    return results


@pytest.mark.parametrize("count", [1, 7, 100])
def test_custos_keys_signatures_and_aggregates_verify_in_peers(custos, count):
    message = random_message()
    signers = custos_signers(custos, count, message)
    publics = [p for p, _, _ in signers]
    signatures = [s for _, _, s in signers]
    aggregate = custos.run("aggregate", *sum((["--signature", s.hex()] for s in signatures), [])).hex()

    # blst: every signature, every proof, the aggregate (ours equals blst's own aggregation).
    g1 = [G1Element.from_bytes(p) for p in publics]
    g2 = [G2Element.from_bytes(s) for s in signatures]
    for pk, sig, (_, proof, _) in zip(g1, g2, signers):
        assert PopSchemeMPL.verify(pk, message, sig)
        assert PopSchemeMPL.pop_verify(pk, G2Element.from_bytes(proof))
    assert bytes(PopSchemeMPL.aggregate(g2)) == aggregate
    assert PopSchemeMPL.fast_aggregate_verify(g1, message, G2Element.from_bytes(aggregate))
    assert not PopSchemeMPL.fast_aggregate_verify(g1, message + b"x", G2Element.from_bytes(aggregate))

    # py_ecc, where it is fast enough.
    if count <= 7:
        for public, proof, signature in signers:
            assert PyEcc.Verify(public, message, signature)
            assert PyEcc.PopVerify(public, proof)
        assert PyEcc.Aggregate(signatures) == aggregate
        assert PyEcc.FastAggregateVerify(publics, message, aggregate)


@pytest.mark.parametrize("count", [1, 7, 100])
def test_blst_signatures_and_aggregates_verify_in_custos(custos, count):
    keys = [PopSchemeMPL.key_gen(bytes(RNG.getrandbits(8) for _ in range(32))) for _ in range(count)]
    publics = [bytes(k.get_g1()).hex() for k in keys]
    proofs = [bytes(PopSchemeMPL.pop_prove(k)).hex() for k in keys]
    message = random_message()
    signatures = [PopSchemeMPL.sign(k, message) for k in keys]
    aggregate = bytes(PopSchemeMPL.aggregate(signatures)).hex()
    # Distinct messages for AggregateVerify.
    messages = [random_message() + i.to_bytes(2, "big") for i in range(count)]
    distinct = bytes(PopSchemeMPL.aggregate([PopSchemeMPL.sign(k, m) for k, m in zip(keys, messages)])).hex()

    requests = [{"id": f"v{i}", "scheme": SCHEME, "public_key": pk, "message": message.hex(), "signature": bytes(s).hex()}
                for i, (pk, s) in enumerate(zip(publics, signatures))]
    requests += [{"id": f"p{i}", "scheme": SCHEME, "public_key": pk, "proof_of_possession": pr}
                 for i, (pk, pr) in enumerate(zip(publics, proofs))]
    requests += [
        {"id": "fast", "scheme": SCHEME, "public_keys": publics, "proofs_of_possession": proofs,
         "message": message.hex(), "signature": aggregate},
        {"id": "fast-tampered", "scheme": SCHEME, "public_keys": publics, "proofs_of_possession": proofs,
         "message": (message + b"!").hex(), "signature": aggregate},
        {"id": "aggregate", "scheme": SCHEME, "public_keys": publics, "proofs_of_possession": proofs,
         "messages": [m.hex() for m in messages], "signature": distinct},
    ]
    results = {r["id"]: r for r in batch(custos, requests)}
    for i in range(count):
        assert results[f"v{i}"] == {"id": f"v{i}", "valid": True}
        assert results[f"p{i}"] == {"id": f"p{i}", "valid": True}
    assert results["fast"] == {"id": "fast", "valid": True}
    assert results["fast-tampered"] == {"id": "fast-tampered", "valid": False}
    assert results["aggregate"] == {"id": "aggregate", "valid": True}
    # Custos aggregates blst's signatures to the same bytes.
    ours = custos.run("aggregate", *sum((["--signature", bytes(s).hex()] for s in signatures), [])).out.strip()
    assert ours == aggregate


@pytest.mark.parametrize("count", [1, 7])
def test_py_ecc_signatures_and_aggregates_verify_in_custos(custos, count):
    secrets = [PyEcc.KeyGen(os.urandom(32)) for _ in range(count)]
    publics = [PyEcc.SkToPk(sk) for sk in secrets]
    message = random_message()
    signatures = [PyEcc.Sign(sk, message) for sk in secrets]
    aggregate = PyEcc.Aggregate(signatures)
    requests = [{"id": f"v{i}", "scheme": SCHEME, "public_key": pk.hex(), "message": message.hex(), "signature": s.hex()}
                for i, (pk, s) in enumerate(zip(publics, signatures))]
    requests.append({"id": "fast", "scheme": SCHEME, "public_keys": [pk.hex() for pk in publics],
                     "proofs_of_possession": [PyEcc.PopProve(sk).hex() for sk in secrets],
                     "message": message.hex(), "signature": aggregate.hex()})
    results = batch(custos, requests)
    assert all(r["valid"] is True for r in results), results


def test_rogue_key_and_bad_points_are_refused(custos):
    """A fast aggregate without proofs, with a duplicate signer, or with a point off the
    curve or outside the subgroup gets an error for that line only."""
    keys = [PopSchemeMPL.key_gen(bytes([i]) * 32) for i in range(1, 4)]
    publics = [bytes(k.get_g1()).hex() for k in keys]
    proofs = [bytes(PopSchemeMPL.pop_prove(k)).hex() for k in keys]
    message = b"reconfigure"
    aggregate = bytes(PopSchemeMPL.aggregate([PopSchemeMPL.sign(k, message) for k in keys])).hex()
    off_curve = "a" + "0" * 94 + "1"          # compressed flag set, x not on the curve
    identity = "c0" + "00" * 47
    results = batch(custos, [
        {"id": "no-proofs", "scheme": SCHEME, "public_keys": publics, "message": message.hex(), "signature": aggregate},
        {"id": "duplicate", "scheme": SCHEME, "public_keys": [publics[0], publics[0]],
         "proofs_of_possession": [proofs[0], proofs[0]], "message": message.hex(), "signature": aggregate},
        {"id": "off-curve", "scheme": SCHEME, "public_key": off_curve, "message": message.hex(), "signature": aggregate},
        {"id": "identity", "scheme": SCHEME, "public_key": identity, "message": message.hex(), "signature": aggregate},
        {"id": "good", "scheme": SCHEME, "public_keys": publics, "proofs_of_possession": proofs,
         "message": message.hex(), "signature": aggregate},
    ])
    by_id = {r["id"]: r for r in results}
    assert "proof of possession" in by_id["no-proofs"]["error"]
    assert "duplicate signer" in by_id["duplicate"]["error"]
    assert by_id["off-curve"]["valid"] is False and "error" in by_id["off-curve"]
    assert by_id["identity"]["valid"] is False and "error" in by_id["identity"]
    assert by_id["good"] == {"id": "good", "valid": True}


def test_rogue_key_aggregate_verify_is_refused(custos):
    """Keys [pk_v, -pk_v, pk_a] over [m, m, m] with the attacker's own signature: py_ecc's
    AggregateVerify (the bare pairing check of the POP ciphersuite) accepts it, so the
    inputs really are a valid aggregate; Custos refuses it for want of proofs of possession
    (there is none for -pk_v) and because the messages repeat."""
    victim, attacker = PyEcc.KeyGen(b"\x01" * 32), PyEcc.KeyGen(b"\x02" * 32)
    victim_public = PyEcc.SkToPk(victim)
    negated = bytes([victim_public[0] ^ 0x20]) + victim_public[1:]   # flips the sign of y
    message = b"transfer 1000 to attacker"
    forged = PyEcc.Sign(attacker, message)
    publics = [victim_public, negated, PyEcc.SkToPk(attacker)]
    assert PyEcc.AggregateVerify(publics, [message] * 3, forged)
    assert not PyEcc.PopVerify(negated, PyEcc.PopProve(victim))

    attack = {"scheme": SCHEME, "public_keys": [pk.hex() for pk in publics], "messages": [message.hex()] * 3,
              "signature": forged.hex()}
    victim_proof, attacker_proof = PyEcc.PopProve(victim).hex(), PyEcc.PopProve(attacker).hex()
    results = {r["id"]: r for r in batch(custos, [
        {"id": "no-proofs", **attack},
        {"id": "reused-proof", **attack, "proofs_of_possession": [victim_proof, victim_proof, attacker_proof]},
    ])}
    assert results["no-proofs"]["valid"] is False and "proof of possession" in results["no-proofs"]["error"]
    assert results["reused-proof"]["valid"] is False
    assert "public key 1 has an invalid proof of possession" in results["reused-proof"]["error"]


def test_aggregate_verify_needs_distinct_messages(custos):
    keys = [PopSchemeMPL.key_gen(bytes([i]) * 32) for i in range(1, 3)]
    message = b"one message"
    aggregate = bytes(PopSchemeMPL.aggregate([PopSchemeMPL.sign(k, message) for k in keys])).hex()
    [result] = batch(custos, [{"id": "same", "scheme": SCHEME, "public_keys": [bytes(k.get_g1()).hex() for k in keys],
                               "proofs_of_possession": [bytes(PopSchemeMPL.pop_prove(k)).hex() for k in keys],
                               "messages": [message.hex()] * 2, "signature": aggregate}])
    assert result["valid"] is False and "distinct messages" in result["error"]
