"""Reading the replica network's CBOR (docs/cluster.md) from outside Custos, and checking its
quorum certificates with independent BLS12-381 code: blst (through blspy) and py_ecc.

Our hash-to-curve DSTs are custom per use, so the standard schemes' verify functions do not
apply; the check is the pairing equation of FastAggregateVerify written out:
e(g1, σ) = e(Σ pk_i, H(M)), with H = hash_to_G2 under the use's DST.
"""

from __future__ import annotations

import hashlib

from blspy import G1Element, G2Element

CONSENSUS_SHARE_TAG = "custos/cluster/v1/consensus-share"
CONSENSUS_SHARE_DST = b"CUSTOS-CLUSTER-V1-CONSENSUS-SHARE_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
KEY_LOG_APPROVAL_TAG = "custos/cluster/v1/key-log-approval"
KEY_LOG_APPROVAL_DST = b"CUSTOS-CLUSTER-V1-KEY-LOG-APPROVAL_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
PHASES = {"pre-prepare": 0, "prepare": 1, "commit": 2, "view-change": 3}


# -- the CBOR subset of docs/cluster.md, written here from RFC 8949 (shortest heads) ------

def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | extra]) + value.to_bytes(size, "big")
    raise ValueError("integer too large")


def cbor_encode(value) -> bytes:
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        raise TypeError("no booleans in the cluster encoding")
    if isinstance(value, int):
        assert value >= 0
        return _head(0, value)
    if isinstance(value, (bytes, bytearray)):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    raise TypeError(type(value))


def cbor_decode(data: bytes):
    value, end = _decode(data, 0)
    assert end == len(data), "trailing bytes"
    return value


def _decode(data: bytes, at: int):
    initial = data[at]
    major, info = initial >> 5, initial & 31
    at += 1
    if initial == 0xF6:
        return None, at
    if info < 24:
        value = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        value = int.from_bytes(data[at:at + size], "big")
        at += size
    if major == 0:
        return value, at
    if major in (2, 3):
        raw = data[at:at + value]
        return (bytes(raw) if major == 2 else raw.decode()), at + value
    if major == 4:
        items = []
        for _ in range(value):
            item, at = _decode(data, at)
            items.append(item)
        return items, at
    raise ValueError(f"major type {major} is not in the cluster encoding")


def signed_message(tag: str, cluster: bytes, body) -> bytes:
    """M(tag, cluster, body) = CBOR([tag, cluster id, body]), deterministic."""
    return cbor_encode([tag, cluster, body])


def consensus_message(cluster: bytes, view: int, sequence: int, phase: str, digest: bytes) -> bytes:
    return signed_message(CONSENSUS_SHARE_TAG, cluster, [view, sequence, PHASES[phase], digest])


def decode_certificate(raw: bytes, n: int) -> tuple[bytes, list[int], list[tuple[int, int]]]:
    """(aggregate, signer ids ascending, [(g, e)] per signer); refuses padding bits."""
    aggregate, bits, keys = cbor_decode(raw)
    assert len(bits) == (n + 7) // 8, "signer bit-vector of the wrong length"
    signers = [i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1]
    assert all(i < n for i in signers), "a padding bit is set"
    assert len(keys) == len(signers)
    return aggregate, signers, [tuple(k) for k in keys]


def record_keys(record: bytes) -> tuple[tuple[int, int, int], bytes]:
    """((r, g, e), consensus public key) of a key-exchange Record."""
    body_bytes, _authority = cbor_decode(record)
    body = cbor_decode(body_bytes)
    return (body[0], body[1], body[2]), body[3]


def configuration_keys(signed_configuration: bytes) -> dict[tuple[int, int, int], bytes]:
    """The bootstrap consensus keys (r, 0, 0) of a SignedConfiguration."""
    body_bytes, _signature = cbor_decode(signed_configuration)
    body = cbor_decode(body_bytes)
    return {(replica[0], 0, 0): replica[3] for replica in body[4]}


def verify_with_blst(public_keys: list[bytes], message: bytes, aggregate: bytes, dst: bytes) -> bool:
    total = G1Element()
    for key in public_keys:
        total += G1Element.from_bytes(key)
    signature = G2Element.from_bytes(aggregate)
    return total.pair(G2Element.from_message(message, dst)) == G1Element.generator().pair(signature)


def verify_with_py_ecc(public_keys: list[bytes], message: bytes, aggregate: bytes, dst: bytes) -> bool:
    from py_ecc.bls.hash_to_curve import hash_to_G2
    from py_ecc.bls.point_compression import decompress_G1, decompress_G2
    from py_ecc.optimized_bls12_381 import FQ12, G1, Z1, add, final_exponentiate, neg, pairing

    total = Z1
    for key in public_keys:
        total = add(total, decompress_G1(int.from_bytes(key, "big")))
    signature = decompress_G2((int.from_bytes(aggregate[:48], "big"), int.from_bytes(aggregate[48:], "big")))
    hashed = hash_to_G2(message, dst, hashlib.sha256)
    # e(Σpk, H(m)) · e(−g1, σ) = 1
    product = pairing(hashed, total, final_exponentiate=False) * pairing(signature, neg(G1), final_exponentiate=False)
    return final_exponentiate(product) == FQ12.one()
