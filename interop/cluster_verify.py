"""An independent verifier of a replica network's key-log export (docs/cluster.md, "Log export").

Written from the specification alone, with libraries nobody here wrote: cbor2 decodes and
re-encodes canonically (RFC 8949 §4.2), blspy (blst) checks every BLS signature and
FastAggregateVerify with the protocol's own domain separation tags, py_ecc checks the same
aggregates a second time, and `cryptography` checks the Ed25519 and ECDSA signatures. It
recomputes the key log from the genesis configuration: each entry's status, the hash chain and
keyset(t), and every stable-checkpoint certificate.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import cbor2
from blspy import G1Element, G2Element, PopSchemeMPL
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SUITE = b"_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
DST_BINDING = b"CUSTOS-CLUSTER-V1-KEY-BINDING" + SUITE
DST_APPROVAL = b"CUSTOS-CLUSTER-V1-KEY-LOG-APPROVAL" + SUITE
DST_CONSENSUS = b"CUSTOS-CLUSTER-V1-CONSENSUS-SHARE" + SUITE

TAG_CONFIGURATION = "custos/cluster/v1/configuration"
TAG_AUTHORITY = "custos/cluster/v1/record-authority"
TAG_BINDING = "custos/cluster/v1/key-binding"
TAG_APPROVAL = "custos/cluster/v1/key-log-approval"
TAG_CHECKPOINT = "custos/cluster/v1/checkpoint"
TAG_CONSENSUS = "custos/cluster/v1/consensus-share"


class VerificationError(Exception):
    pass


def canonical(data: bytes):
    """Decodes CBOR and insists that it is the deterministic encoding of what it holds."""
    value = cbor2.loads(data)
    again = cbor2.dumps(value, canonical=True)
    if again != data:
        raise VerificationError("not deterministic CBOR")
    return value


def message(tag: str, cluster: bytes, body) -> bytes:
    """M(tag, cluster, body) = CBOR([tag, cluster id, body])."""
    return cbor2.dumps([tag, cluster, body], canonical=True)


def bls_verify(public_keys: list[bytes], msg: bytes, signature: bytes, dst: bytes) -> bool:
    """FastAggregateVerify in blst: e(Σpk, H_dst(m)) == e(g1, σ)."""
    if not public_keys:
        return False
    aggregate = G1Element.from_bytes(public_keys[0])
    for pk in public_keys[1:]:
        aggregate = aggregate + G1Element.from_bytes(pk)
    sig = G2Element.from_bytes(signature)
    return aggregate.pair(G2Element.from_message(msg, dst)) == G1Element.generator().pair(sig)


def py_ecc_fast_aggregate_verify(public_keys: list[bytes], msg: bytes, signature: bytes, dst: bytes) -> bool:
    """The same check in the Ethereum Foundation's pure-Python implementation."""
    from py_ecc.bls import G2ProofOfPossession

    class Scheme(G2ProofOfPossession):
        DST = dst

    return Scheme.FastAggregateVerify(public_keys, msg, signature)


def ed25519_valid(public_key: bytes, msg: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def operator_valid(scheme: str, public_key: bytes, msg: bytes, signature: bytes) -> bool:
    if scheme == "ed25519":
        return ed25519_valid(public_key, msg, signature)
    if scheme == "ecdsa-p384-sha384":
        if len(signature) != 96:
            return False
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), public_key)
        der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
        try:
            key.verify(der, msg, ec.ECDSA(hashes.SHA384()))
            return True
        except InvalidSignature:
            return False
    raise VerificationError(f"unknown operator key scheme {scheme!r}")


def signer_indices(bits: bytes, n: int) -> list[int]:
    if len(bits) != (n + 7) // 8:
        raise VerificationError("bit-vector length")
    indices = [i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1]
    if any(i >= n for i in indices):
        raise VerificationError("padding bit set")
    return indices


@dataclass
class KeySet:
    consensus: bytes
    main: bytes
    generation: int
    epoch: int
    tls_pin: bytes


@dataclass
class Verified:
    cluster: bytes
    n: int
    quorum: int
    interval: int
    genesis_hash: bytes
    entries: list = field(default_factory=list)          # (s, status)
    heads: list = field(default_factory=list)
    accepted: list = field(default_factory=list)         # (s, replica, KeySet)
    checkpoints: list = field(default_factory=list)      # boundaries verified
    certificates_checked: int = 0
    bootstrap: dict = field(default_factory=dict)

    def keyset(self, t: int) -> dict[int, KeySet]:
        """The key of each replica after the accepted entries with s ≤ (⌈t/W⌉ − 2)·W."""
        limit = (math.ceil(t / self.interval) - 2) * self.interval
        keys = dict(self.bootstrap)
        for s, replica, keyset in self.accepted:
            if s <= limit:
                keys[replica] = keyset
        return keys

    def head_at(self, boundary: int) -> tuple[int, bytes]:
        count = sum(1 for s, _ in self.entries if s <= boundary)
        return count, (self.heads[count - 1] if count else self.genesis_hash)


def verify_export(data: bytes, *, cross_check_py_ecc: bool = False) -> Verified:
    export = canonical(data)
    signed_configuration, entries, checkpoints = export
    body_bytes, operator_signature = signed_configuration
    body = canonical(body_bytes)
    version, cluster, interval, (scheme, operator_key), replicas, _created = body
    if version != 1:
        raise VerificationError("configuration version")
    if not operator_valid(scheme, operator_key, message(TAG_CONFIGURATION, cluster, body_bytes), operator_signature):
        raise VerificationError("operator signature")
    n = len(replicas)
    f = (n - 1) // 3
    result = Verified(cluster=cluster, n=n, quorum=n - f, interval=interval,
                      genesis_hash=hashlib.sha256(cbor2.dumps(signed_configuration, canonical=True)).digest())
    for position, (rid, _address, main, consensus, pop, pin) in enumerate(replicas):
        if rid != position:
            raise VerificationError("replica id out of position")
        if not PopSchemeMPL.pop_verify(G1Element.from_bytes(consensus), G2Element.from_bytes(pop)):
            raise VerificationError(f"bootstrap proof of possession of replica {rid}")
        result.bootstrap[rid] = KeySet(consensus, main, 0, 0, pin)

    newest: dict[tuple[int, int], KeySet] = {}
    head = result.genesis_hash
    for entry in entries:
        s, kind, record_bytes, certificate_bytes, status, _reason = entry
        if kind != 0:
            # Operator commands and client records change keys and targets: recomputing them
            # independently is not implemented here, so such a log is not vouched for.
            raise VerificationError(f"entry at sequence {s}: kind {kind} is not checked by this verifier")
        accepted_here = _entry_accepted(result, newest, s, record_bytes, certificate_bytes, cross_check_py_ecc)
        if (status == 0) != (accepted_here is not None):
            raise VerificationError(f"entry at sequence {s}: status {status} but the independent check says "
                                    f"{'accepted' if accepted_here else 'void'}")
        if accepted_here is not None:
            replica, keyset = accepted_here
            newest[(replica, keyset.generation)] = keyset
            result.accepted.append((s, replica, keyset))
        head = hashlib.sha256(head + cbor2.dumps(entry, canonical=True)).digest()
        result.entries.append((s, status))
        result.heads.append(head)

    for certificate in checkpoints:
        (boundary, ledger_digest, length, log_head), signatures = certificate
        expected_length, expected_head = result.head_at(boundary)
        if (length, log_head) != (expected_length, expected_head):
            raise VerificationError(f"checkpoint {boundary}: key-log head differs from the recomputed one")
        statement = [boundary, ledger_digest, length, log_head]
        keys = result.keyset(boundary)
        seen = set()
        for replica, generation, epoch, signature in signatures:
            key = keys.get(replica)
            if replica in seen or key is None or (key.generation, key.epoch) != (generation, epoch):
                raise VerificationError(f"checkpoint {boundary}: signer {replica} not in keyset({boundary})")
            if not ed25519_valid(key.main, message(TAG_CHECKPOINT, cluster, statement), signature):
                raise VerificationError(f"checkpoint {boundary}: bad signature by replica {replica}")
            seen.add(replica)
        if len(seen) < result.quorum:
            raise VerificationError(f"checkpoint {boundary}: {len(seen)} signatures, quorum {result.quorum}")
        result.checkpoints.append(boundary)
    return result


def _entry_accepted(result: Verified, newest: dict, s: int, record_bytes: bytes, certificate_bytes: bytes,
                    cross_check: bool):
    """Recomputes an entry's status from the specification: (replica, keys) if accepted, None if void."""
    cluster = result.cluster
    try:
        body_bytes, authority = canonical(record_bytes)
        r, g, e, consensus, pop, consensus_binding, main, main_binding, pin, _command = canonical(body_bytes)
    except Exception:
        return None
    if r >= result.n:
        return None
    if g != 0:
        return None  # generations past 0 come with replace-replica commands
    current = newest.get((r, g), result.bootstrap[r] if g == 0 else None)
    if current is None or e != current.epoch + 1:
        return None
    try:
        if not PopSchemeMPL.pop_verify(G1Element.from_bytes(consensus), G2Element.from_bytes(pop)):
            return None
    except Exception:
        return None
    binding = message(TAG_BINDING, cluster, [r, g, e, consensus, main, pin])
    if not bls_verify([consensus], binding, consensus_binding, DST_BINDING):
        return None
    if not ed25519_valid(main, binding, main_binding):
        return None
    if not ed25519_valid(current.main, message(TAG_AUTHORITY, cluster, body_bytes), authority):
        return None
    try:
        aggregate, bits, signer_keys = canonical(certificate_bytes)
        signers = signer_indices(bits, result.n)
    except Exception:
        return None
    if len(signers) < result.quorum or len(signer_keys) != len(signers):
        return None
    keys = result.keyset(s)
    public_keys = []
    for replica, (generation, epoch) in zip(signers, signer_keys):
        key = keys[replica]
        if (key.generation, key.epoch) != (generation, epoch):
            return None
        public_keys.append(key.consensus)
    digest = hashlib.sha256(record_bytes).digest()
    approval = message(TAG_APPROVAL, cluster, [r, g, e, digest])
    if not bls_verify(public_keys, approval, aggregate, DST_APPROVAL):
        return None
    if cross_check and not py_ecc_fast_aggregate_verify(public_keys, approval, aggregate, DST_APPROVAL):
        raise VerificationError("blst and py_ecc disagree on a certificate")
    result.certificates_checked += 1
    return r, KeySet(consensus, main, g, e, pin)
