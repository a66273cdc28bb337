"""Builds and signs every document of the replica network in Python, from docs/cluster.md alone:
configurations, replica and client records, client descriptors, operator commands of every
action, quorum certificates and stable-checkpoint certificates.

Test code, not product: it lets a test craft what the CLI and the replicas would never
produce (a command under another cluster's operator, altered after signing, a number reused,
a certificate below quorum, a client record for another client…) and build whole key logs
whose every entry is decided by the independent verifier (cluster_verify.py), to check that
Custos decides each one the same way. BLS signatures under the protocol's own DSTs are
computed as sk·H(m) with blspy's hash-to-curve and point addition (blspy has no custom-DST
signing); everything else uses `cryptography`.
"""
from __future__ import annotations

import copy
import hashlib

from blspy import G2Element, PopSchemeMPL
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import cluster_verify as v


def _seed(label: str, size: int = 32) -> bytes:
    return hashlib.shake_256(label.encode()).digest(size)


def tls_pin(public_key) -> bytes:
    """RFC 7469 pin: SHA-256 of the SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def _p_key(curve, label: str):
    order = {384: int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16),
             256: int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)}[curve.key_size]
    scalar = int.from_bytes(_seed(label, 64), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


def _ecdsa_raw(key, digest, size: int, msg: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def bls_sign(secret_scalar: int, msg: bytes, dst: bytes) -> bytes:
    """sk·H_dst(m) by double-and-add over blspy's G2 addition."""
    point, result = G2Element.from_message(msg, dst), None
    k = secret_scalar
    while k:
        if k & 1:
            result = point if result is None else result + point
        point = point + point
        k >>= 1
    return bytes(result)


def bls_aggregate(signatures: list[bytes]) -> bytes:
    total = G2Element.from_bytes(signatures[0])
    for s in signatures[1:]:
        total = total + G2Element.from_bytes(s)
    return bytes(total)


class Operator:
    """An operator key: Ed25519, or ECDSA P-384 with SHA-384 (signatures raw r‖s)."""

    def __init__(self, label: str, scheme: str = "ed25519"):
        self.scheme = scheme
        if scheme == "ed25519":
            self.key = Ed25519PrivateKey.from_private_bytes(_seed(label))
            self.public = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            self.key = _p_key(ec.SECP384R1(), label)
            self.public = self.key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    @property
    def cbor(self) -> list:
        return [self.scheme, self.public]

    def sign(self, msg: bytes) -> bytes:
        if self.scheme == "ed25519":
            return self.key.sign(msg)
        return _ecdsa_raw(self.key, hashes.SHA384(), 48, msg)


class ReplicaSecret:
    """The three key pairs of one replica key name: consensus (BLS), main (Ed25519), TLS (P-384)."""

    def __init__(self, label: str):
        self.bls = PopSchemeMPL.key_gen(_seed("bls " + label))
        self.scalar = int.from_bytes(bytes(self.bls), "big")
        self.consensus = bytes(self.bls.get_g1())
        self.pop = bytes(PopSchemeMPL.pop_prove(self.bls))
        self.main_key = Ed25519PrivateKey.from_private_bytes(_seed("main " + label))
        self.main = self.main_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.tls = _p_key(ec.SECP384R1(), "tls " + label)
        self.pin = tls_pin(self.tls.public_key())

    def sign_bls(self, msg: bytes, dst: bytes) -> bytes:
        return bls_sign(self.scalar, msg, dst)

    def sign_main(self, msg: bytes) -> bytes:
        return self.main_key.sign(msg)

    def carrying(self, consensus: "ReplicaSecret | None" = None, main: "ReplicaSecret | None" = None,
                 pin: bytes | None = None) -> "ReplicaSecret":
        """The key name's effective secrets when some kinds are carried from an earlier name."""
        effective = copy.copy(self)
        if consensus is not None:
            effective.bls, effective.scalar, effective.consensus, effective.pop = consensus.bls, consensus.scalar, consensus.consensus, consensus.pop
        if main is not None:
            effective.main_key, effective.main = main.main_key, main.main
        if pin is not None:
            effective.pin = pin
        return effective

    def descriptor(self, r: int, address: str) -> list:
        """Replica = [r, address, main, consensus, pop, TLS pin]."""
        return [r, address, self.main, self.consensus, self.pop, self.pin]


class ClientSecret:
    """A client key name's keys: signing (Ed25519 or ECDSA P-256), TLS and API TLS (P-384)."""

    def __init__(self, label: str, scheme: str = "ed25519"):
        self.scheme = scheme
        if scheme == "ed25519":
            self.signing = Ed25519PrivateKey.from_private_bytes(_seed("signing " + label))
            self.signing_public = self.signing.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            self.signing = _p_key(ec.SECP256R1(), "signing " + label)
            self.signing_public = self.signing.public_key().public_bytes(serialization.Encoding.X962,
                                                                          serialization.PublicFormat.UncompressedPoint)
        self.tls = _p_key(ec.SECP384R1(), "tls " + label)
        self.api_tls = _p_key(ec.SECP384R1(), "api " + label)
        self.tls_pin = tls_pin(self.tls.public_key())
        self.api_tls_pin = tls_pin(self.api_tls.public_key())

    def sign(self, msg: bytes) -> bytes:
        if self.scheme == "ed25519":
            return self.signing.sign(msg)
        return _ecdsa_raw(self.signing, hashes.SHA256(), 32, msg)

    def key_set(self) -> list:
        """ClientKeySet = [scheme, signing key, TLS pin, API TLS pin]."""
        return [self.scheme, self.signing_public, self.tls_pin, self.api_tls_pin]


# -- documents -----------------------------------------------------------------------------

def configuration(cluster: bytes, interval: int, operator: Operator, replicas: list[list], created: int = 1_700_000_000) -> list:
    """SignedConfiguration (as its array) over Replica descriptors."""
    body = v.encode([1, cluster, interval, operator.cbor, replicas, created])
    return [body, operator.sign(v.message(v.TAG_CONFIGURATION, cluster, body))]


def replica_record(cluster: bytes, r: int, g: int, e: int, new: ReplicaSecret, authority: ReplicaSecret, command: int = 0, *,
                   consensus: ReplicaSecret | None = None, main: ReplicaSecret | None = None, pin: bytes | None = None) -> bytes:
    """Record for (r, g, e): `consensus`/`main` default to `new` (a carried kind passes the old
    secret), `pin` to new's TLS pin; bound by the keys it names, authorised by `authority`."""
    effective = new.carrying(consensus, main, pin)
    consensus, main, pin = effective, effective, effective.pin
    binding = v.message(v.TAG_BINDING, cluster, [r, g, e, consensus.consensus, main.main, pin])
    body = v.encode([r, g, e, consensus.consensus, consensus.pop, consensus.sign_bls(binding, v.DST_BINDING),
                     main.main, main.sign_main(binding), pin, command])
    return v.encode([body, authority.sign_main(v.message(v.TAG_AUTHORITY, cluster, body))])


def client_descriptor(cluster: bytes, k: int, secret: ClientSecret, *, key_set: list | None = None,
                      signer: ClientSecret | None = None) -> list:
    """ClientDescriptor = [k, ClientKeySet, binding signature over binding(k, 0)]."""
    key_set = key_set or secret.key_set()
    return [k, key_set, (signer or secret).sign(v.client_binding_message(cluster, k, 0, key_set))]


def client_record(cluster: bytes, k: int, e: int, new: ClientSecret, authority: ClientSecret, command: int = 0, *,
                  key_set: list | None = None) -> bytes:
    """ClientRecord for (k, e), bound by `new`'s signing key, authorised by the key of (k, e−1)."""
    key_set = key_set or new.key_set()
    body = v.encode([k, e, key_set, new.sign(v.client_binding_message(cluster, k, e, key_set)), command])
    return v.encode([body, authority.sign(v.message(v.TAG_CLIENT_AUTHORITY, cluster, body))])


def rotate_replica_keys(targets: list[int] | None, kinds: int) -> list:
    return [0, targets, kinds]


def rotate_client_keys(targets: list[int] | None, kinds: int) -> list:
    return [1, targets, kinds]


def add_client(descriptor: list) -> list:
    return [2, descriptor]


def remove_client(k: int) -> list:
    return [3, k]


def replace_replica(descriptor: list) -> list:
    return [4, descriptor]


def rotate_operator_key(cluster: bytes, number: int, new: Operator, *, prover: Operator | None = None) -> list:
    proof = (prover or new).sign(v.operator_key_binding_message(cluster, number, tuple(new.cbor)))
    return [5, new.cbor, proof]


def command_body(cluster: bytes, number: int, expires_at: int, action: list) -> bytes:
    return v.encode([1, cluster, number, expires_at, action])


def sign_command(cluster: bytes, body: bytes, operator: Operator) -> bytes:
    """SignedCommand = [CommandBody bytes, operator signature over M(command, cluster, body)]."""
    return v.encode([body, operator.sign(v.message(v.TAG_COMMAND, cluster, body))])


def command(cluster: bytes, number: int, action: list, operator: Operator, expires_at: int = 1_700_003_600) -> bytes:
    return sign_command(cluster, command_body(cluster, number, expires_at, action), operator)


def certificate(n: int, signers: list[tuple[int, int, int, ReplicaSecret]], msg: bytes, dst: bytes) -> bytes:
    """Certificate = [aggregate, signer bit-vector (LSB first), [[g, e], …]] in replica order."""
    signers = sorted(signers, key=lambda x: x[0])
    bits = bytearray((n + 7) // 8)
    for r, *_ in signers:
        bits[r // 8] |= 1 << (r % 8)
    aggregate = bls_aggregate([secret.sign_bls(msg, dst) for _, _, _, secret in signers])
    return v.encode([aggregate, bytes(bits), [[g, e] for _, g, e, _ in signers]])


def record_approval(cluster: bytes, record: bytes) -> bytes:
    decoded = v.decode_replica_record(record)
    return v.message(v.TAG_APPROVAL, cluster, [decoded.r, decoded.g, decoded.e, hashlib.sha256(record).digest()])


def client_approval(cluster: bytes, record: bytes) -> bytes:
    decoded = v.decode_client_record(record)
    return v.message(v.TAG_CLIENT_APPROVAL, cluster, [decoded.keys.client, decoded.keys.epoch, hashlib.sha256(record).digest()])


def command_approval(cluster: bytes, signed_command: bytes) -> bytes:
    number = v.canonical(v.canonical(signed_command)[0])[2]
    return v.message(v.TAG_COMMAND_APPROVAL, cluster, [number, hashlib.sha256(signed_command).digest()])


class LogBuilder:
    """A key log built entry by entry, each decided by the independent verifier's rules, with
    the secrets of every replica key name so that certificates can be made under keyset(s)."""

    def __init__(self, n: int = 4, interval: int = 2, label: str = "forged", operator_scheme: str = "ed25519"):
        self.cluster = _seed("cluster " + label, 16)
        self.operator = Operator("operator " + label, operator_scheme)
        self.secrets: dict[tuple[int, int, int], ReplicaSecret] = {}
        replicas = []
        for r in range(n):
            secret = ReplicaSecret(f"{label} {r} 0 0")
            self.secrets[(r, 0, 0)] = secret
            replicas.append(secret.descriptor(r, f"127.0.0.1:{20000 + r}"))
        self.configuration = configuration(self.cluster, interval, self.operator, replicas)
        self.model = v.genesis(self.configuration)
        self.entries: list[list] = []
        self.sequence = 0

    @property
    def n(self) -> int:
        return self.model.n

    def certify(self, s: int, msg: bytes, dst: bytes, replicas: list[int] | None = None) -> bytes:
        """A certificate by the given replicas (default: the first Q) under their keys in keyset(s)."""
        keys = self.model.keyset(s)
        chosen = replicas if replicas is not None else list(range(self.model.quorum))
        return certificate(self.n, [(r, keys[r].generation, keys[r].epoch, self.secrets[(r, keys[r].generation, keys[r].epoch)])
                                    for r in chosen], msg, dst)

    def next_sequence(self, step: int = 1) -> int:
        return self.sequence + step

    def append(self, kind: int, item: bytes, certificate: bytes | None = None, *, s: int | None = None) -> str:
        """Schedules an item at s (default: the next sequence), certified by the first Q replicas
        over its own approval message unless `certificate` is given; returns the void reason
        ('' when accepted)."""
        s = self.next_sequence() if s is None else s
        if certificate is None:
            certificate = self.certify(s, *self.approval(kind, item))
        self.model.checkpoint_notice = max(self.model.checkpoint_notice, (s - 1) // self.model.interval * self.model.interval)
        status, reason = self.model.process(s, kind, item, certificate)
        entry = [s, kind, item, certificate, status, reason]
        self.model.heads.append(hashlib.sha256(self.model.head + v.encode(entry)).digest())
        self.model.entries.append((s, kind, status, reason))
        self.entries.append(entry)
        self.sequence = s
        return reason

    def approval(self, kind: int, item: bytes) -> tuple[bytes, bytes]:
        """The approval message and DST of an item; for undecodable items, an arbitrary one."""
        try:
            if kind == v.KIND_REPLICA_RECORD:
                return record_approval(self.cluster, item), v.DST_APPROVAL
            if kind == v.KIND_CLIENT_RECORD:
                return client_approval(self.cluster, item), v.DST_CLIENT_APPROVAL
            return command_approval(self.cluster, item), v.DST_COMMAND_APPROVAL
        except (v.VerificationError, IndexError, TypeError, ValueError):
            return b"undecodable", v.DST_APPROVAL

    def checkpoint(self, boundary: int, signers: list[int] | None = None) -> list:
        """CheckpointCertificate at B by main keys of keyset(B), over the log's head at B."""
        length, head = self.model.head_at(boundary)
        statement = [boundary, hashlib.sha256(b"ledger %d" % boundary).digest(), length, head]
        keys = self.model.keyset(boundary)
        chosen = signers if signers is not None else list(range(self.model.quorum))
        signatures = []
        for r in chosen:
            name = (r, keys[r].generation, keys[r].epoch)
            signatures.append([r, keys[r].generation, keys[r].epoch,
                               self.secrets[name].sign_main(v.message(v.TAG_CHECKPOINT, self.cluster, statement))])
        return [statement, signatures]

    def export(self, checkpoints: list | None = None) -> bytes:
        """LogExport = [SignedConfiguration, [LogEntry, …], [CheckpointCertificate, …]]."""
        return v.encode([self.configuration, self.entries, checkpoints or []])
