"""An independent verifier of a replica network's key-log export (docs/cluster.md, "Log export").

Written from the specification alone, with libraries nobody here wrote: cbor2 decodes and
re-encodes canonically (RFC 8949 §4.2), blspy (blst) checks every BLS signature and
FastAggregateVerify with the protocol's own domain separation tags, py_ecc checks the same
aggregates a second time, and `cryptography` checks the Ed25519 and ECDSA signatures. It
recomputes the key log from the genesis configuration: each entry of every kind (replica
records, client records, operator commands) with its status and void reason, the effects of
commands (pending orders, clients, replaced replicas, the operator key), the hash chain,
keyset(t) and the client keyset, command progress, and every stable-checkpoint certificate.
Each entry is re-encoded from what this code decided and must equal the exported bytes.
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
DST_COMMAND_APPROVAL = b"CUSTOS-CLUSTER-V1-COMMAND-APPROVAL" + SUITE
DST_CLIENT_APPROVAL = b"CUSTOS-CLUSTER-V1-CLIENT-KEY-APPROVAL" + SUITE

TAG_CONFIGURATION = "custos/cluster/v1/configuration"
TAG_AUTHORITY = "custos/cluster/v1/record-authority"
TAG_BINDING = "custos/cluster/v1/key-binding"
TAG_APPROVAL = "custos/cluster/v1/key-log-approval"
TAG_CHECKPOINT = "custos/cluster/v1/checkpoint"
TAG_CONSENSUS = "custos/cluster/v1/consensus-share"
TAG_COMMAND = "custos/cluster/v1/command"
TAG_COMMAND_APPROVAL = "custos/cluster/v1/command-approval"
TAG_OPERATOR_KEY_BINDING = "custos/cluster/v1/operator-key-binding"
TAG_CLIENT_BINDING = "custos/cluster/v1/client-key-binding"
TAG_CLIENT_AUTHORITY = "custos/cluster/v1/client-record-authority"
TAG_CLIENT_APPROVAL = "custos/cluster/v1/client-key-approval"

KIND_REPLICA_RECORD, KIND_CLIENT_RECORD, KIND_COMMAND = 0, 1, 2
KIND_NAMES = {0: "replica-record", 1: "client-record", 2: "command"}
RECORD_LIMIT = 1024
COMMAND_LIMIT = 4096
DESCRIPTOR_LIMIT = 512
CERTIFICATE_LIMIT = 8192
MAX_DEPTH = 8
MAX_TARGETS = 256
# Kind bits: replicas consensus 1, main 2, tls 4; clients signing 1, tls 2, api-tls 4.
REPLICA_KINDS = {"consensus": 1, "main": 2, "tls": 4}
CLIENT_KINDS = {"signing": 1, "tls": 2, "api-tls": 4}
ACTIONS = {0: "rotate-replica-keys", 1: "rotate-client-keys", 2: "add-client", 3: "remove-client",
           4: "replace-replica", 5: "rotate-operator-key"}


class VerificationError(Exception):
    pass


class Void(Exception):
    """An entry's void reason (docs/cluster.md); the first check that fails names it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- encoding ------------------------------------------------------------------------------

def _check_subset(value, depth: int = 0) -> None:
    """Only unsigned integers < 2^64, byte and text strings, arrays (nesting ≤ 8) and null."""
    if value is None or isinstance(value, (bytes, str)):
        return
    if isinstance(value, bool):
        raise VerificationError("a boolean is not in the cluster encoding")
    if isinstance(value, int):
        if not 0 <= value < 1 << 64:
            raise VerificationError("an integer outside 0 … 2^64−1")
        return
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise VerificationError("CBOR nesting deeper than 8")
        for item in value:
            _check_subset(item, depth + 1)
        return
    raise VerificationError(f"{type(value).__name__} is not in the cluster encoding")


def canonical(data: bytes, limit: int | None = None):
    """Decodes CBOR and insists that it is the deterministic encoding of the cluster subset."""
    if limit is not None and len(data) > limit:
        raise VerificationError(f"{len(data)} bytes, over the limit of {limit}")
    try:
        value = cbor2.loads(data)
    except Exception as error:
        raise VerificationError(f"not CBOR: {type(error).__name__}") from None
    _check_subset(value)
    if cbor2.dumps(value, canonical=True) != data:
        raise VerificationError("not deterministic CBOR")
    return value


def encode(value) -> bytes:
    _check_subset(value)
    return cbor2.dumps(value, canonical=True)


def message(tag: str, cluster: bytes, body) -> bytes:
    """M(tag, cluster, body) = CBOR([tag, cluster id, body])."""
    return encode([tag, cluster, body])


def _uint(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise VerificationError(f"{what}: not an unsigned integer")
    return value


def _bytes(value, what: str, count: int | None = None, maximum: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise VerificationError(f"{what}: not a byte string")
    if count is not None and len(value) != count:
        raise VerificationError(f"{what}: {len(value)} bytes, not {count}")
    if maximum is not None and len(value) > maximum:
        raise VerificationError(f"{what}: over {maximum} bytes")
    return value


def _text(value, what: str, maximum: int | None = None) -> str:
    if not isinstance(value, str):
        raise VerificationError(f"{what}: not a text string")
    if maximum is not None and len(value.encode()) > maximum:
        raise VerificationError(f"{what}: over {maximum} bytes")
    return value


def _array(value, what: str, count: int | None = None) -> list:
    if not isinstance(value, list):
        raise VerificationError(f"{what}: not an array")
    if count is not None and len(value) != count:
        raise VerificationError(f"{what}: {len(value)} items, not {count}")
    return value


# -- signatures ----------------------------------------------------------------------------

def bls_verify(public_keys: list[bytes], msg: bytes, signature: bytes, dst: bytes) -> bool:
    """FastAggregateVerify in blst: e(Σpk, H_dst(m)) == e(g1, σ)."""
    if not public_keys:
        return False
    try:
        aggregate = G1Element.from_bytes(public_keys[0])
        for pk in public_keys[1:]:
            aggregate = aggregate + G1Element.from_bytes(pk)
        sig = G2Element.from_bytes(signature)
    except Exception:
        return False
    return aggregate.pair(G2Element.from_message(msg, dst)) == G1Element.generator().pair(sig)


def py_ecc_fast_aggregate_verify(public_keys: list[bytes], msg: bytes, signature: bytes, dst: bytes) -> bool:
    """The same check in the Ethereum Foundation's pure-Python implementation."""
    from py_ecc.bls import G2ProofOfPossession

    class Scheme(G2ProofOfPossession):
        DST = dst

    return Scheme.FastAggregateVerify(public_keys, msg, signature)


def valid_consensus_key(raw: bytes) -> bool:
    """KeyValidate: a point of the G1 subgroup, not the identity."""
    try:
        return len(raw) == 48 and G1Element.from_bytes(raw) != G1Element()
    except Exception:
        return False


def valid_g2(raw: bytes) -> bool:
    try:
        G2Element.from_bytes(raw)
        return True
    except Exception:
        return False


def ed25519_valid(public_key: bytes, msg: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def _ecdsa_valid(curve, digest, size: int, public_key: bytes, msg: bytes, signature: bytes) -> bool:
    if len(signature) != 2 * size:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(curve, public_key)
        der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
        key.verify(der, msg, ec.ECDSA(digest))
        return True
    except (InvalidSignature, ValueError):
        return False


def operator_key_valid(scheme: str, public_key: bytes) -> bool:
    if scheme == "ed25519":
        return len(public_key) == 32
    if scheme == "ecdsa-p384-sha384":
        return _point_valid(ec.SECP384R1(), public_key, 97)
    return False


def client_signing_key_valid(scheme: str, public_key: bytes) -> bool:
    if scheme == "ed25519":
        return len(public_key) == 32
    if scheme == "ecdsa-p256-sha256":
        return _point_valid(ec.SECP256R1(), public_key, 65)
    return False


def _point_valid(curve, raw: bytes, size: int) -> bool:
    if len(raw) != size or raw[0] != 4:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
        return True
    except ValueError:
        return False


def operator_valid(scheme: str, public_key: bytes, msg: bytes, signature: bytes) -> bool:
    """An operator signature: Ed25519 (64 bytes) or ECDSA P-384 / SHA-384, raw r‖s (96)."""
    if scheme == "ed25519":
        return ed25519_valid(public_key, msg, signature)
    if scheme == "ecdsa-p384-sha384":
        return _ecdsa_valid(ec.SECP384R1(), hashes.SHA384(), 48, public_key, msg, signature)
    raise VerificationError(f"unknown operator key scheme {scheme!r}")


def client_signature_valid(scheme: str, public_key: bytes, msg: bytes, signature: bytes) -> bool:
    """A client signing key's signature: Ed25519, or ECDSA P-256 / SHA-256 raw r‖s (64 bytes)."""
    if scheme == "ed25519":
        return ed25519_valid(public_key, msg, signature)
    if scheme == "ecdsa-p256-sha256":
        return _ecdsa_valid(ec.SECP256R1(), hashes.SHA256(), 32, public_key, msg, signature)
    return False


def signer_indices(bits: bytes, n: int) -> list[int]:
    if len(bits) != (n + 7) // 8:
        raise VerificationError("bit-vector length")
    indices = [i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1]
    if any(i >= n for i in indices):
        raise VerificationError("padding bit set")
    return indices


def kinds_valid(kinds, table: dict) -> bool:
    return isinstance(kinds, int) and kinds != 0 and kinds & ~sum(table.values()) == 0


# -- documents -----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeySet:
    """A replica's public keys under one key name (r, g, e)."""
    consensus: bytes
    main: bytes
    generation: int
    epoch: int
    tls_pin: bytes


@dataclass(frozen=True)
class ClientKeySet:
    """A client's public keys under (k, e)."""
    client: int
    epoch: int
    scheme: str
    signing_key: bytes
    tls_pin: bytes
    api_tls_pin: bytes


@dataclass
class ReplicaRecord:
    r: int
    g: int
    e: int
    consensus: bytes
    pop: bytes
    consensus_binding: bytes
    main: bytes
    main_binding: bytes
    pin: bytes
    command: int
    body: bytes
    authority: bytes
    raw: bytes


def decode_replica_record(raw: bytes) -> ReplicaRecord:
    """Record = [RecordBody bytes, authority signature (64)]; refuses what the Swift decoder refuses."""
    body_bytes, authority = _array(canonical(raw, RECORD_LIMIT), "record", 2)
    _bytes(body_bytes, "record body", maximum=RECORD_LIMIT)
    _bytes(authority, "authority signature", 64)
    f = _array(canonical(body_bytes, RECORD_LIMIT), "record body", 10)
    r, g, e = (_uint(f[i], "record name") for i in range(3))
    if r >= 256 or e < 1:
        raise VerificationError("record name out of range")
    consensus = _bytes(f[3], "consensus key", 48)
    if not valid_consensus_key(consensus):
        raise VerificationError("consensus key fails KeyValidate")
    pop, binding = _bytes(f[4], "proof of possession", 96), _bytes(f[5], "consensus binding", 96)
    if not valid_g2(pop) or not valid_g2(binding):
        raise VerificationError("not a G2 point")
    return ReplicaRecord(r, g, e, consensus, pop, binding, _bytes(f[6], "main key", 32), _bytes(f[7], "main binding", 64),
                         _bytes(f[8], "TLS pin", 32), _uint(f[9], "command"), body_bytes, authority, raw)


def replica_record_signatures_valid(cluster: bytes, record: ReplicaRecord, authority_main: bytes) -> bool:
    try:
        if not PopSchemeMPL.pop_verify(G1Element.from_bytes(record.consensus), G2Element.from_bytes(record.pop)):
            return False
    except Exception:
        return False
    binding = message(TAG_BINDING, cluster, [record.r, record.g, record.e, record.consensus, record.main, record.pin])
    return (bls_verify([record.consensus], binding, record.consensus_binding, DST_BINDING)
            and ed25519_valid(record.main, binding, record.main_binding)
            and ed25519_valid(authority_main, message(TAG_AUTHORITY, cluster, record.body), record.authority))


def decode_client_key_set(value) -> tuple[str, bytes, bytes, bytes]:
    scheme, key, pin, api_pin = _array(value, "client key set", 4)
    _text(scheme, "signing scheme", 32)
    _bytes(key, "signing key", maximum=65)
    if not client_signing_key_valid(scheme, key):
        raise VerificationError("client signing key")
    return scheme, key, _bytes(pin, "TLS pin", 32), _bytes(api_pin, "API TLS pin", 32)


def client_binding_message(cluster: bytes, k: int, e: int, key_set) -> bytes:
    return message(TAG_CLIENT_BINDING, cluster, [k, e, list(key_set)])


@dataclass
class ClientDescriptor:
    client: ClientKeySet
    binding: bytes
    value: list


def decode_client_descriptor(value) -> ClientDescriptor:
    """ClientDescriptor = [k, ClientKeySet, binding signature over binding(k, 0)] (≤ 512 bytes)."""
    k, key_set, binding = _array(value, "client descriptor", 3)
    if len(encode(value)) > DESCRIPTOR_LIMIT:
        raise VerificationError("client descriptor over 512 bytes")
    k = _uint(k, "client id")
    if k >= 1 << 32:
        raise VerificationError("client id beyond 32 bits")
    scheme, key, pin, api_pin = decode_client_key_set(key_set)
    return ClientDescriptor(ClientKeySet(k, 0, scheme, key, pin, api_pin), _bytes(binding, "binding signature", 64), value)


def client_descriptor_valid(cluster: bytes, descriptor: ClientDescriptor) -> bool:
    c = descriptor.client
    binding = client_binding_message(cluster, c.client, 0, [c.scheme, c.signing_key, c.tls_pin, c.api_tls_pin])
    return client_signature_valid(c.scheme, c.signing_key, binding, descriptor.binding)


@dataclass
class ClientRecord:
    keys: ClientKeySet
    binding: bytes
    command: int
    body: bytes
    authority: bytes
    raw: bytes


def decode_client_record(raw: bytes) -> ClientRecord:
    """ClientRecord = [ClientRecordBody bytes, authority signature];
    ClientRecordBody = [k, e ≥ 1, ClientKeySet, binding signature, command]."""
    body_bytes, authority = _array(canonical(raw, RECORD_LIMIT), "client record", 2)
    _bytes(body_bytes, "client record body")
    _bytes(authority, "client authority signature", 64)
    k, e, key_set, binding, command = _array(canonical(body_bytes, RECORD_LIMIT), "client record body", 5)
    k, e = _uint(k, "client id"), _uint(e, "client epoch")
    if k >= 1 << 32 or e < 1:
        raise VerificationError("client key name out of range")
    scheme, key, pin, api_pin = decode_client_key_set(key_set)
    return ClientRecord(ClientKeySet(k, e, scheme, key, pin, api_pin), _bytes(binding, "binding signature", 64),
                        _uint(command, "command"), body_bytes, authority, raw)


def client_record_signatures_valid(cluster: bytes, record: ClientRecord, authority: ClientKeySet) -> bool:
    c = record.keys
    binding = client_binding_message(cluster, c.client, c.epoch, [c.scheme, c.signing_key, c.tls_pin, c.api_tls_pin])
    return (client_signature_valid(c.scheme, c.signing_key, binding, record.binding)
            and client_signature_valid(authority.scheme, authority.signing_key,
                                       message(TAG_CLIENT_AUTHORITY, cluster, record.body), record.authority))


@dataclass
class ReplicaDescriptor:
    r: int
    address: str
    main: bytes
    consensus: bytes
    pop: bytes
    pin: bytes


def valid_address(address: str) -> bool:
    raw = address.encode()
    if not raw or len(raw) > 255 or not all(0x20 < b < 0x7F for b in raw) or b":" not in raw:
        return False
    host, _, port = address.rpartition(":")
    return bool(host) and 1 <= len(port) <= 5 and port.isdigit() and 1 <= int(port) <= 65535


def decode_replica_descriptor(value) -> ReplicaDescriptor:
    """Replica = [r, address, bootstrap main, consensus, pop, TLS pin], as in ConfigurationBody."""
    r, address, main, consensus, pop, pin = _array(value, "replica", 6)
    r = _uint(r, "replica id")
    if r > 0xFFFF:
        raise VerificationError("replica id beyond 16 bits")
    address = _text(address, "address", 255)
    main = _bytes(main, "main key", 32)
    consensus = _bytes(consensus, "consensus key", 48)
    if not valid_consensus_key(consensus):
        raise VerificationError("consensus key fails KeyValidate")
    pop = _bytes(pop, "proof of possession", 96)
    if not valid_g2(pop):
        raise VerificationError("proof of possession is not a G2 point")
    return ReplicaDescriptor(r, address, main, consensus, pop, _bytes(pin, "TLS pin", 32))


@dataclass
class Command:
    cluster: bytes
    number: int
    expires_at: int
    action: int
    targets: list | None = None         # rotate: None = every node, or ids
    kinds: int = 0
    client: int | None = None           # remove-client
    descriptor: ClientDescriptor | None = None
    replica: ReplicaDescriptor | None = None
    operator_key: tuple | None = None   # rotate-operator-key: (scheme, key)
    proof: bytes = b""
    body: bytes = b""
    signature: bytes = b""
    raw: bytes = b""

    @property
    def name(self) -> str:
        return ACTIONS[self.action]

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def _targets(value) -> list | None:
    if value is None:
        return None
    targets = [_uint(t, "target") for t in _array(value, "targets")]
    if not targets or len(targets) > MAX_TARGETS or any(a >= b for a, b in zip(targets, targets[1:])):
        raise VerificationError("targets must be ascending, distinct, 1 … 256 of them")
    return targets


def decode_command(raw: bytes) -> Command:
    """SignedCommand = [CommandBody bytes, operator signature];
    CommandBody = [1, cluster id, c ≥ 1, expires at, action]."""
    body_bytes, signature = _array(canonical(raw, COMMAND_LIMIT), "signed command", 2)
    _bytes(body_bytes, "command body")
    _bytes(signature, "operator signature", maximum=96)
    version, cluster, number, expires_at, action = _array(canonical(body_bytes, COMMAND_LIMIT), "command body", 5)
    if _uint(version, "version") != 1:
        raise VerificationError("command version")
    command = Command(_bytes(cluster, "cluster id", 16), _uint(number, "number"), _uint(expires_at, "expiry"), -1,
                      body=body_bytes, signature=signature, raw=raw)
    if command.number < 1:
        raise VerificationError("command number 0")
    action = _array(action, "action")
    if not action:
        raise VerificationError("empty action")
    code = _uint(action[0], "action code")
    command.action = code
    if code in (0, 1):
        _, targets, kinds = _array(action, "rotate action", 3)
        command.targets = _targets(targets)
        if command.targets is not None and code == 0 and command.targets[-1] > 0xFFFF:
            raise VerificationError("replica target beyond 16 bits")
        if command.targets is not None and code == 1 and command.targets[-1] >= 1 << 32:
            raise VerificationError("client target beyond 32 bits")
        if not kinds_valid(kinds, REPLICA_KINDS if code == 0 else CLIENT_KINDS):
            raise VerificationError("kinds")
        command.kinds = kinds
    elif code == 2:
        _, descriptor = _array(action, "add-client action", 2)
        command.descriptor = decode_client_descriptor(descriptor)
    elif code == 3:
        _, client = _array(action, "remove-client action", 2)
        command.client = _uint(client, "client id")
        if command.client >= 1 << 32:
            raise VerificationError("client id beyond 32 bits")
    elif code == 4:
        _, replica = _array(action, "replace-replica action", 2)
        command.replica = decode_replica_descriptor(replica)
    elif code == 5:
        _, key, proof = _array(action, "rotate-operator-key action", 3)
        scheme, public_key = _array(key, "operator key", 2)
        _text(scheme, "operator key scheme", 32)
        _bytes(public_key, "operator key", maximum=97)
        if not operator_key_valid(scheme, public_key):
            raise VerificationError("operator key")
        command.operator_key = (scheme, public_key)
        command.proof = _bytes(proof, "proof", maximum=96)
    else:
        raise VerificationError(f"unknown action {code}")
    return command


def command_approval_message(cluster: bytes, command: Command) -> bytes:
    return message(TAG_COMMAND_APPROVAL, cluster, [command.number, command.digest])


def operator_key_binding_message(cluster: bytes, number: int, key: tuple) -> bytes:
    return message(TAG_OPERATOR_KEY_BINDING, cluster, [number, list(key)])


# -- the key log ---------------------------------------------------------------------------

@dataclass
class Client:
    added_at: int
    removed_at: int | None = None
    history: list = field(default_factory=list)        # [(s, ClientKeySet)], epoch 0 first


@dataclass
class CommandInfo:
    command: Command
    sequence: int
    targets: list                                       # resolved at execution: [("replica", r) | ("client", k)]


@dataclass
class Verified:
    """The key log recomputed from genesis."""
    cluster: bytes
    n: int
    quorum: int
    interval: int
    genesis_hash: bytes
    operator: tuple = ()
    entries: list = field(default_factory=list)          # (s, kind, status, reason)
    heads: list = field(default_factory=list)
    accepted: list = field(default_factory=list)         # replica records: (s, replica, KeySet)
    client_records: list = field(default_factory=list)   # (s, ClientKeySet)
    executed: list = field(default_factory=list)         # accepted commands: CommandInfo, schedule order
    checkpoints: list = field(default_factory=list)      # boundaries verified
    certificates_checked: int = 0
    bootstrap: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)          # r -> [(s, KeySet)]
    addresses: dict = field(default_factory=dict)        # r -> newest address
    known: dict = field(default_factory=dict)            # (r, g, e) -> KeySet
    clients: dict = field(default_factory=dict)          # k -> Client
    pin_owners: dict = field(default_factory=dict)       # pin -> ("replica", r) | ("client", k)
    pending: dict = field(default_factory=dict)          # node -> [(c, kinds)]
    accepted_digests: set = field(default_factory=set)
    highest_command: int = 0
    operator_history: list = field(default_factory=list)  # (s, (scheme, key)) from genesis (s = 0)
    checkpoint_notice: int = 0
    cross_check: bool = False

    # keysets ------------------------------------------------------------------------------

    def deciding_boundary(self, t: int) -> int:
        rounds = math.ceil(t / self.interval)
        return 0 if rounds <= 2 else (rounds - 2) * self.interval

    def keyset(self, t: int) -> dict[int, KeySet]:
        """The key of each replica after the accepted entries with s ≤ (⌈t/W⌉ − 2)·W."""
        limit = self.deciding_boundary(t)
        return {r: [k for s, k in h if s <= limit][-1] for r, h in self.history.items()}

    def client_keyset(self, t: int) -> dict[int, ClientKeySet]:
        """Clients added at s ≤ d and not removed at s ≤ d, each with its newest key scheduled ≤ d."""
        d = self.deciding_boundary(t)
        return {k: [keys for s, keys in c.history if s <= d][-1] for k, c in self.clients.items()
                if c.added_at <= d and (c.removed_at is None or c.removed_at > d)}

    def newest(self, r: int) -> KeySet:
        return self.history[r][-1][1]

    def newest_client(self, k: int) -> ClientKeySet:
        return self.clients[k].history[-1][1]

    def registered_clients(self) -> list[int]:
        return sorted(k for k, c in self.clients.items() if c.removed_at is None)

    def head_at(self, boundary: int) -> tuple[int, bytes]:
        count = sum(1 for s, *_ in self.entries if s <= boundary)
        return count, (self.heads[count - 1] if count else self.genesis_hash)

    @property
    def head(self) -> bytes:
        return self.heads[-1] if self.heads else self.genesis_hash

    def activation_boundary(self, s: int) -> int:
        return (math.ceil(s / self.interval) + 1) * self.interval

    def pending_orders(self, node: tuple) -> list:
        return list(self.pending.get(node, []))

    def command_progress(self, number: int, boundary: int | None = None) -> dict | None:
        """{number, sequence, action, remaining: [node], complete}: a rotate command is complete
        once every target resolved at execution has an active record naming it or a later
        command, or was replaced (replica) / removed (client) after it."""
        info = next((i for i in self.executed if i.command.number == number), None)
        if info is None:
            return None
        boundary = self.checkpoint_notice if boundary is None else boundary
        remaining = []
        if info.command.action in (0, 1):
            for node in info.targets:
                if not self._target_done(node, number, info.sequence, boundary):
                    remaining.append(node)
        return {"number": number, "sequence": info.sequence, "action": info.command.name,
                "remaining": remaining, "complete": not remaining}

    def _target_done(self, node: tuple, number: int, executed_at: int, boundary: int) -> bool:
        for s, answered, done_node in self._answers:
            if done_node == node and s > executed_at and answered >= number and self.activation_boundary(s) <= boundary:
                return True
        for s, ended in self._ends:
            if ended == node and s > executed_at:
                return True
        return False

    # entries ------------------------------------------------------------------------------

    def process(self, s: int, kind: int, item: bytes, certificate: bytes) -> tuple[int, str]:
        """Decides an entry at s and applies it; (status, reason)."""
        try:
            if kind == KIND_REPLICA_RECORD:
                apply = self._replica_record(s, item, certificate)
            elif kind == KIND_CLIENT_RECORD:
                apply = self._client_record(s, item, certificate)
            elif kind == KIND_COMMAND:
                apply = self._command(s, item, certificate)
            else:
                raise VerificationError(f"entry kind {kind}")
        except Void as void:
            return 1, void.reason
        apply()
        return 0, ""

    def _certificate(self, s: int, certificate: bytes, msg: bytes, dst: bytes) -> None:
        try:
            aggregate, bits, signer_keys = _array(canonical(certificate, CERTIFICATE_LIMIT), "certificate", 3)
            _bytes(aggregate, "aggregate", 96)
            _bytes(bits, "signers", maximum=32)
            signers = signer_indices(bits, self.n)
            signer_keys = _array(signer_keys, "signer keys")
            if len(signer_keys) != len(signers):
                raise VerificationError("signer-key count")
            names = []
            for replica, key in zip(signers, signer_keys):
                g, e = (_uint(x, "signer key") for x in _array(key, "signer key", 2))
                names.append((replica, g, e))
            if not valid_g2(aggregate):
                raise VerificationError("aggregate is not a G2 point")
        except VerificationError:
            raise Void("malformed-certificate") from None
        if len(signers) < self.quorum:
            raise Void("certificate-invalid")
        keys = self.keyset(s)
        public_keys = []
        for replica, g, e in names:
            key = self.known.get((replica, g, e))
            if key is None or (keys[replica].generation, keys[replica].epoch) != (g, e):
                raise Void("certificate-invalid")
            public_keys.append(key.consensus)
        if not bls_verify(public_keys, msg, aggregate, dst):
            raise Void("certificate-invalid")
        if self.cross_check and not py_ecc_fast_aggregate_verify(public_keys, msg, aggregate, dst):
            raise VerificationError("blst and py_ecc disagree on a certificate")
        self.certificates_checked += 1

    def _order_checks(self, node: tuple, command: int, renewed) -> None:
        """unknown-command and kinds-not-renewed for a record answering `command` (> 0)."""
        if command == 0:
            return
        info = next((i for i in self.executed if i.command.number == command), None)
        wanted = 0 if node[0] == "replica" else 1
        if info is None or info.command.action != wanted or node not in info.targets:
            raise Void("unknown-command")
        union = 0
        for c, kinds in self.pending.get(node, []):
            if c <= command:
                union |= kinds
        for bit, same in renewed:
            if union & bit and same:
                raise Void("kinds-not-renewed")

    def _satisfy(self, node: tuple, command: int) -> None:
        if command:
            self.pending[node] = [(c, k) for c, k in self.pending.get(node, []) if c > command]

    def _replica_record(self, s: int, item: bytes, certificate: bytes):
        try:
            record = decode_replica_record(item)
        except VerificationError:
            raise Void("malformed-record") from None
        r = record.r
        if r >= self.n:
            raise Void("replica-out-of-range")
        current = self.newest(r)
        if current.generation != record.g:
            raise Void("unknown-generation")
        digest = hashlib.sha256(item).digest()
        if record.e <= current.epoch:
            raise Void("replay" if digest in self.accepted_digests else "epoch-taken")
        if record.e != current.epoch + 1:
            raise Void("epoch-gap")
        if not replica_record_signatures_valid(self.cluster, record, current.main):
            raise Void("bad-record-signature")
        node = ("replica", r)
        self._order_checks(node, record.command, [(1, record.consensus == current.consensus), (2, record.main == current.main),
                                                  (4, record.pin == current.tls_pin)])
        if self.pin_owners.get(record.pin, node) != node:
            raise Void("foreign-tls-pin")
        self._certificate(s, certificate, message(TAG_APPROVAL, self.cluster, [r, record.g, record.e, digest]), DST_APPROVAL)

        def apply():
            keys = KeySet(record.consensus, record.main, record.g, record.e, record.pin)
            self.history[r].append((s, keys))
            self.known[(r, record.g, record.e)] = keys
            self.accepted_digests.add(digest)
            self.pin_owners[record.pin] = node
            self.accepted.append((s, r, keys))
            self._satisfy(node, record.command)
            self._answers.append((s, record.command, node))
        return apply

    def _client_record(self, s: int, item: bytes, certificate: bytes):
        try:
            record = decode_client_record(item)
        except VerificationError:
            raise Void("malformed-record") from None
        k = record.keys.client
        client = self.clients.get(k)
        if client is None:
            raise Void("unknown-client")
        if client.removed_at is not None:
            raise Void("client-removed")
        current = self.newest_client(k)
        digest = hashlib.sha256(item).digest()
        if record.keys.epoch <= current.epoch:
            raise Void("replay" if digest in self.accepted_digests else "epoch-taken")
        if record.keys.epoch != current.epoch + 1:
            raise Void("epoch-gap")
        if not client_record_signatures_valid(self.cluster, record, current):
            raise Void("bad-record-signature")
        node = ("client", k)
        new = record.keys
        self._order_checks(node, record.command, [(1, (new.scheme, new.signing_key) == (current.scheme, current.signing_key)),
                                                  (2, new.tls_pin == current.tls_pin), (4, new.api_tls_pin == current.api_tls_pin)])
        if any(self.pin_owners.get(pin, node) != node for pin in (new.tls_pin, new.api_tls_pin)):
            raise Void("foreign-tls-pin")
        self._certificate(s, certificate, message(TAG_CLIENT_APPROVAL, self.cluster, [k, new.epoch, digest]), DST_CLIENT_APPROVAL)

        def apply():
            client.history.append((s, new))
            self.accepted_digests.add(digest)
            self.pin_owners[new.tls_pin] = node
            self.pin_owners[new.api_tls_pin] = node
            self.client_records.append((s, new))
            self._satisfy(node, record.command)
            self._answers.append((s, record.command, node))
        return apply

    def _command(self, s: int, item: bytes, certificate: bytes):
        try:
            command = decode_command(item)
        except VerificationError:
            raise Void("malformed-command") from None
        if command.cluster != self.cluster:
            raise Void("wrong-cluster")
        scheme, key = self.operator
        if not operator_valid(scheme, key, message(TAG_COMMAND, self.cluster, command.body), command.signature):
            raise Void("bad-operator-signature")
        if command.number <= self.highest_command:
            raise Void("command-replay")
        targets = self._check_targets(command)
        self._check_action(command)
        self._certificate(s, certificate, command_approval_message(self.cluster, command), DST_COMMAND_APPROVAL)

        def apply():
            self._execute(s, command, targets)
        return apply

    def _check_targets(self, command: Command) -> list:
        """The targets resolved now; unknown-target / client-id-taken."""
        if command.action == 0:
            targets = list(range(self.n)) if command.targets is None else command.targets
            if any(r >= self.n for r in targets):
                raise Void("unknown-target")
            return [("replica", r) for r in targets]
        if command.action == 1:
            targets = self.registered_clients() if command.targets is None else command.targets
            if any(k not in self.clients or self.clients[k].removed_at is not None for k in targets):
                raise Void("unknown-target")
            return [("client", k) for k in targets]
        if command.action == 2:
            if command.descriptor.client.client in self.clients:
                raise Void("client-id-taken")
            return [("client", command.descriptor.client.client)]
        if command.action == 3:
            if command.client not in self.clients or self.clients[command.client].removed_at is not None:
                raise Void("unknown-target")
            return [("client", command.client)]
        if command.action == 4:
            if command.replica.r >= self.n:
                raise Void("unknown-target")
            return [("replica", command.replica.r)]
        return []

    def _check_action(self, command: Command) -> None:
        if command.action == 2:
            descriptor = command.descriptor
            c = descriptor.client
            if not client_descriptor_valid(self.cluster, descriptor) or c.tls_pin in self.pin_owners \
                    or c.api_tls_pin in self.pin_owners:
                raise Void("invalid-command")
        elif command.action == 4:
            d = command.replica
            others = [self.newest(r) for r in range(self.n) if r != d.r]
            try:
                pop_ok = PopSchemeMPL.pop_verify(G1Element.from_bytes(d.consensus), G2Element.from_bytes(d.pop))
            except Exception:
                pop_ok = False
            if (not pop_ok or not valid_address(d.address) or any(k.consensus == d.consensus or k.main == d.main for k in others)
                    or d.pin in self.pin_owners
                    or any(address == d.address for r, address in self.addresses.items() if r != d.r)):
                raise Void("invalid-command")
        elif command.action == 5:
            scheme, key = command.operator_key
            if not operator_valid(scheme, key, operator_key_binding_message(self.cluster, command.number, command.operator_key),
                                  command.proof):
                raise Void("invalid-command")

    def _execute(self, s: int, command: Command, targets: list) -> None:
        if command.action in (0, 1):
            for node in targets:
                self.pending.setdefault(node, []).append((command.number, command.kinds))
        elif command.action == 2:
            c = command.descriptor.client
            self.clients[c.client] = Client(added_at=s, history=[(s, c)])
            self.pin_owners[c.tls_pin] = ("client", c.client)
            self.pin_owners[c.api_tls_pin] = ("client", c.client)
        elif command.action == 3:
            self.clients[command.client].removed_at = s
            self.pending.pop(("client", command.client), None)
            self._ends.append((s, ("client", command.client)))
        elif command.action == 4:
            d = command.replica
            g = self.newest(d.r).generation + 1
            keys = KeySet(d.consensus, d.main, g, 0, d.pin)
            self.history[d.r].append((s, keys))
            self.known[(d.r, g, 0)] = keys
            self.addresses[d.r] = d.address
            self.pin_owners[d.pin] = ("replica", d.r)
            self.pending.pop(("replica", d.r), None)
            self._ends.append((s, ("replica", d.r)))
        elif command.action == 5:
            self.operator = command.operator_key
            self.operator_history.append((s, command.operator_key))
        self.highest_command = command.number
        self.executed.append(CommandInfo(command, s, targets))

    def __post_init__(self):
        self._answers: list = []   # (s, command named, node) of accepted records
        self._ends: list = []      # (s, node) replaced or removed


def genesis(signed_configuration) -> Verified:
    """The key log before its first entry, from a SignedConfiguration (array or bytes)."""
    if isinstance(signed_configuration, bytes):
        signed_configuration = canonical(signed_configuration)
    body_bytes, operator_signature = _array(signed_configuration, "signed configuration", 2)
    body = canonical(body_bytes)
    version, cluster, interval, (scheme, operator_key), replicas, _created = body
    if version != 1:
        raise VerificationError("configuration version")
    if not operator_valid(scheme, operator_key, message(TAG_CONFIGURATION, cluster, body_bytes), operator_signature):
        raise VerificationError("operator signature")
    n = len(replicas)
    f = (n - 1) // 3
    result = Verified(cluster=cluster, n=n, quorum=n - f, interval=interval, operator=(scheme, operator_key),
                      genesis_hash=hashlib.sha256(encode(signed_configuration)).digest())
    result.operator_history.append((0, (scheme, operator_key)))
    for position, (rid, address, main, consensus, pop, pin) in enumerate(replicas):
        if rid != position:
            raise VerificationError("replica id out of position")
        if not PopSchemeMPL.pop_verify(G1Element.from_bytes(consensus), G2Element.from_bytes(pop)):
            raise VerificationError(f"bootstrap proof of possession of replica {rid}")
        keys = KeySet(consensus, main, 0, 0, pin)
        result.bootstrap[rid] = keys
        result.history[rid] = [(0, keys)]
        result.known[(rid, 0, 0)] = keys
        result.addresses[rid] = address
        result.pin_owners[pin] = ("replica", rid)
    return result


def verify_export(data: bytes, *, cross_check_py_ecc: bool = False) -> Verified:
    """LogExport = [SignedConfiguration, [LogEntry, …], [CheckpointCertificate, …]], recomputed."""
    export = canonical(data)
    signed_configuration, entries, checkpoints = _array(export, "log export", 3)
    result = genesis(signed_configuration)
    result.cross_check = cross_check_py_ecc
    cluster = result.cluster

    boundaries = [c[0][0] for c in checkpoints]
    if any(a >= b for a, b in zip(boundaries, boundaries[1:])):
        raise VerificationError("stable checkpoints not in ascending order")
    pending = list(checkpoints)

    def verify_checkpoint(certificate) -> None:
        (boundary, ledger_digest, length, log_head), signatures = certificate
        if boundary % result.interval:
            raise VerificationError(f"checkpoint {boundary} not on a boundary")
        expected_length, expected_head = result.head_at(boundary)
        if (length, log_head) != (expected_length, expected_head):
            raise VerificationError(f"checkpoint {boundary}: key-log head differs from the recomputed one")
        result.checkpoint_notice = max(result.checkpoint_notice, boundary)
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

    previous = 0
    for index, entry in enumerate(entries):
        s, kind, item, certificate, status, reason = _array(entry, "log entry", 6)
        if kind not in KIND_NAMES or s < 1 or s < previous:
            raise VerificationError(f"entry {index}: kind {kind} or sequence {s} out of order")
        limit = COMMAND_LIMIT if kind == KIND_COMMAND else RECORD_LIMIT
        if len(item) > limit or len(certificate) > CERTIFICATE_LIMIT:
            raise VerificationError(f"entry {index}: oversized")
        while pending and pending[0][0][0] < s:
            verify_checkpoint(pending.pop(0))
        # Ledger order: an entry at s implies every checkpoint notice below it.
        result.checkpoint_notice = max(result.checkpoint_notice, (s - 1) // result.interval * result.interval)
        decided = result.process(s, kind, item, certificate)
        recomputed = encode([s, kind, item, certificate, *decided])
        if recomputed != encode(entry):
            raise VerificationError(f"entry {index} at sequence {s} ({KIND_NAMES[kind]}): exported status {status} {reason!r}, "
                                    f"recomputed {decided[0]} {decided[1]!r}")
        result.heads.append(hashlib.sha256(result.head + recomputed).digest())
        result.entries.append((s, kind, *decided))
        previous = s
    for certificate in pending:
        verify_checkpoint(certificate)
    return result
