"""`custos cluster enrol | genesis | join` (docs/cluster.md, "Configuration and genesis",
"Bundles") on four data directories, checked from outside Custos: the configuration's operator
signature verified with `cryptography`, bundles opened here with an independent HPKE (RFC 9180,
written below from the RFC over `cryptography`'s X25519, HMAC and AES-GCM) and an independent
scrypt + AES-GCM, the opened keys compared with the configuration's public keys, and the
operator's data directory scanned for them once genesis is done.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from blspy import PrivateKey as BLSPrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cluster_certificates import cbor_decode, signed_message
from custos_cli import SCRYPT_LOG_N, Custos

BUNDLE_PASSPHRASE = "bundle-passphrase-for-interop"
HPKE_INFO = b"custos-cluster-bundle-v1"


# -- HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (RFC 9180) --------

def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def hpke_open(recipient: x25519.X25519PrivateKey, enc: bytes, ciphertext: bytes, info: bytes, aad: bytes) -> bytes:
    kem_suite = b"KEM" + (0x0020).to_bytes(2, "big")
    dh = recipient.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    recipient_public = recipient.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared_secret = _labeled_expand(kem_suite, eae_prk, b"shared_secret", enc + recipient_public, 32)
    suite = b"HPKE" + (0x0020).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0x0002).to_bytes(2, "big")
    context = b"\x00" + _labeled_extract(suite, b"", b"psk_id_hash", b"") + _labeled_extract(suite, b"", b"info_hash", info)
    secret = _labeled_extract(suite, shared_secret, b"secret", b"")
    key = _labeled_expand(suite, secret, b"key", context, 32)
    nonce = _labeled_expand(suite, secret, b"base_nonce", context, 12)
    return AESGCM(key).decrypt(nonce, ciphertext, aad)


# -- bundles, read here ---------------------------------------------------------------------

def read_bundle(path: Path) -> dict:
    bundle = json.loads(path.read_text())
    assert bundle["format"] == "custos-cluster-bundle-v1"
    return bundle


def configuration_of(bundle: dict) -> tuple[bytes, list]:
    """(SignedConfiguration bytes, ConfigurationBody) with the operator signature checked here."""
    signed = base64.b64decode(bundle["configuration"])
    body_bytes, signature = cbor_decode(signed)
    body = cbor_decode(body_bytes)
    version, cluster_id, _interval, (scheme, operator_key), _replicas, _created = body
    assert version == 1 and scheme == "ed25519"
    message = signed_message("custos/cluster/v1/configuration", cluster_id, body_bytes)
    ed25519.Ed25519PublicKey.from_public_bytes(operator_key).verify(signature, message)  # raises if bad
    return signed, body


def associated_data(signed: bytes, replica: int) -> bytes:
    return hashlib.sha256(signed).digest() + replica.to_bytes(2, "big")


def open_passphrase_bundle(bundle: dict, passphrase: str) -> bytes:
    keys = bundle["keys"]
    assert keys["protection"] == "passphrase-scrypt"
    signed, _ = configuration_of(bundle)
    key = Scrypt(salt=base64.b64decode(keys["salt"]), length=32, n=1 << keys["log_n"], r=keys["r"], p=keys["p"]).derive(passphrase.encode())
    sealed = base64.b64decode(keys["ciphertext"])
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], associated_data(signed, bundle["replica"]))


def open_hpke_bundle(bundle: dict, recipient: x25519.X25519PrivateKey) -> bytes:
    keys = bundle["keys"]
    assert keys["protection"] == "hpke-x25519"
    signed, _ = configuration_of(bundle)
    return hpke_open(recipient, base64.b64decode(keys["encapsulated_key"]), base64.b64decode(keys["ciphertext"]), HPKE_INFO,
                     associated_data(signed, bundle["replica"]))


def check_keys_match_configuration(plaintext: bytes, body: list, replica: int) -> list[bytes]:
    """The three secrets of a sealed key set, after checking their public keys are the
    configuration's bootstrap keys of `replica`."""
    assert len(plaintext) == 112
    consensus, main, tls = plaintext[:32], plaintext[32:64], plaintext[64:]
    _id, _address, main_public, consensus_public, _pop, pin = body[4][replica]
    assert bytes(BLSPrivateKey.from_bytes(consensus).get_g1()) == consensus_public
    assert ed25519.Ed25519PrivateKey.from_private_bytes(main).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == main_public
    tls_key = ec.derive_private_key(int.from_bytes(tls, "big"), ec.SECP384R1())
    spki = tls_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(spki).digest() == pin
    return [consensus, main, tls]


def assert_nowhere_in(directory: Path, secrets: list[bytes]) -> int:
    """No file under `directory` holds any of the secrets, raw or as hex; returns the number of files read."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret not in content, f"a bootstrap private key is in {path}"
            assert secret.hex().encode() not in content.lower(), f"a bootstrap private key (hex) is in {path}"
    return len(files)


def cluster_key_states(runner: Custos) -> dict[str, str]:
    listing = runner.run("key", "list", "--tenant", "cluster", "--json").json()
    keys = listing["keys"] if isinstance(listing, dict) else listing
    return {k["alias"]: k["status"] for k in keys}


# -- the network ----------------------------------------------------------------------------

@pytest.fixture
def network(custos_bin: Path, tmp_path: Path):
    """An operator and four replica data directories; 0 and 1 enrol (HPKE bundles), 2 and 3 get
    passphrase bundles; genesis has run."""
    def make(name: str) -> Custos:
        runner = Custos(custos_bin, tmp_path / name)
        runner.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
        return runner

    operator = make("operator")
    replicas = [make(f"replica-{i}") for i in range(4)]
    specs = []
    for index, replica in enumerate(replicas):
        spec = f"{index}=127.0.0.1:{19440 + index}"
        if index < 2:
            enrolment = replica.run("cluster", "enrol").out.strip()
            assert len(bytes.fromhex(enrolment)) == 32
            assert replica.run("cluster", "enrol", "--json").json()["enrolment_key"] == enrolment  # reused, not replaced
            spec += f",enrolment={enrolment}"
        specs.append(spec)
    out = tmp_path / "bundles"
    out.mkdir()
    passphrase_file = operator.file(BUNDLE_PASSPHRASE + "\n", ".pass")
    args = ["cluster", "genesis", "--checkpoint-interval", "8", "--out", out, "--bundle-passphrase-file", passphrase_file,
            "--bundle-scrypt-log-n", "10", "--json"]
    for spec in specs:
        args += ["--replica", spec]
    genesis = operator.run(*args).json()
    return operator, replicas, genesis, out, passphrase_file


def test_genesis_then_each_replica_joins_with_its_bundle(network):
    operator, replicas, genesis, out, passphrase_file = network
    assert genesis["replicas"] == 4 and genesis["quorum"] == 3 and genesis["checkpoint_interval"] == 8
    bundles = [read_bundle(out / f"replica-{i}.bundle.json") for i in range(4)]
    assert [b["keys"]["protection"] for b in bundles] == ["hpke-x25519"] * 2 + ["passphrase-scrypt"] * 2
    signed, body = configuration_of(bundles[0])
    assert all(base64.b64decode(b["configuration"]) == signed for b in bundles)
    assert hashlib.sha256(signed).hexdigest() == genesis["genesis_hash"]
    assert body[1].hex() == genesis["cluster_id"]
    assert [r[1] for r in body[4]] == [f"127.0.0.1:{19440 + i}" for i in range(4)]

    # The operator's copies: destroyed in its keystore, the operator key kept.
    states = cluster_key_states(operator)
    genesis_aliases = [a for a in states if a.startswith("genesis/")]
    assert len(genesis_aliases) == 12 and all(states[a] == "destroyed" for a in genesis_aliases)
    assert states["cluster-operator"] == "enabled"

    # The passphrase bundles opened here hold the configuration's keys, and none of those
    # private keys is in any file of the operator's data directory.
    secrets = []
    for index in (2, 3):
        secrets += check_keys_match_configuration(open_passphrase_bundle(bundles[index], BUNDLE_PASSPHRASE), body, index)
    assert assert_nowhere_in(operator.data_dir, secrets) >= 2

    for index, replica in enumerate(replicas):
        extra = [] if index < 2 else ["--bundle-passphrase-file", passphrase_file]
        bundle = out / f"replica-{index}.bundle.json"
        if index == 0:
            # Pinned to another genesis hash (a bundle someone else sealed to this public enrolment
            # key would have one): refused, nothing imported.
            other = ("0" if genesis["genesis_hash"][0] != "0" else "1") + genesis["genesis_hash"][1:]
            assert "comes from another genesis" in refused(replica, "--bundle", bundle, "--genesis-hash", other)
            assert "64 hex digits" in refused(replica, "--bundle", bundle, "--genesis-hash", "00ff")
        joined = replica.run("cluster", "join", "--bundle", bundle, "--genesis-hash", genesis["genesis_hash"], *extra, "--json").json()
        assert joined == {"cluster_id": genesis["cluster_id"], "genesis_hash": genesis["genesis_hash"], "replica": index, "generation": 0, "replicas": 4}
        states = cluster_key_states(replica)
        assert all(states[f"replica-{index}/g0/e0/{kind}"] == "enabled" for kind in ("consensus", "main", "tls"))
        # Wrapped like every key: the imported private keys are not in the replica's files either.
        if index >= 2:
            mine = check_keys_match_configuration(open_passphrase_bundle(bundles[index], BUNDLE_PASSPHRASE), body, index)
            assert_nowhere_in(replica.data_dir, mine)
    audit = replicas[0].run("audit", "list", "--operation", "cluster.join", "--json")
    assert "cluster.join" in audit.out


def refused(replica: Custos, *args) -> str:
    """A join that must fail, leaving the data directory without the cluster's keys."""
    before = cluster_key_states(replica) if (replica.data_dir / "custos.sqlite").exists() else {}
    error = replica.fails("cluster", "join", *args)
    after = cluster_key_states(replica)
    assert not any(alias.startswith("replica-") for alias in after), "a refused join imported keys"
    assert {a: s for a, s in after.items()} == {a: s for a, s in before.items() if a in after}
    return error


def test_altered_misdirected_or_wrongly_unlocked_bundles_are_refused_and_import_nothing(network):
    _operator, replicas, _genesis, out, passphrase_file = network
    replicas[2].run("cluster", "enrol")  # so that its key listing exists before and after
    replicas[3].run("cluster", "enrol")

    # Replica 1's bundle on replica 0: sealed to another enrolment key.
    error = refused(replicas[0], "--bundle", out / "replica-1.bundle.json")
    assert "do not open" in error

    # Replica 3's bundle relabelled as replica 2's: the associated data (genesis hash ‖ r) differs.
    bundle = read_bundle(out / "replica-3.bundle.json")
    bundle["replica"] = 2
    relabelled = replicas[2].file(json.dumps(bundle), ".json")
    error = refused(replicas[2], "--bundle", relabelled, "--bundle-passphrase-file", passphrase_file)
    assert "do not open" in error

    # One bit of the configuration flipped: the operator signature (or a rule) refuses it.
    bundle = read_bundle(out / "replica-2.bundle.json")
    configuration = bytearray(base64.b64decode(bundle["configuration"]))
    configuration[len(configuration) // 2] ^= 1
    bundle["configuration"] = base64.b64encode(bytes(configuration)).decode()
    altered = replicas[2].file(json.dumps(bundle), ".json")
    assert "configuration is refused" in refused(replicas[2], "--bundle", altered, "--bundle-passphrase-file", passphrase_file)

    # One bit of the sealed keys flipped.
    bundle = read_bundle(out / "replica-2.bundle.json")
    sealed = bytearray(base64.b64decode(bundle["keys"]["ciphertext"]))
    sealed[30] ^= 0x40
    bundle["keys"]["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
    altered = replicas[2].file(json.dumps(bundle), ".json")
    assert "do not open" in refused(replicas[2], "--bundle", altered, "--bundle-passphrase-file", passphrase_file)

    # The wrong passphrase, and none at all.
    wrong = replicas[3].file("not-the-bundle-passphrase\n", ".pass")
    assert "passphrase is wrong" in refused(replicas[3], "--bundle", out / "replica-3.bundle.json", "--bundle-passphrase-file", wrong)
    assert "sealed under a passphrase" in refused(replicas[3], "--bundle", out / "replica-3.bundle.json")

    # Every refusal is audited.
    audit = replicas[2].run("audit", "list", "--operation", "cluster.join", "--json").out
    assert audit.count("failure") >= 3

    # And the right bundle still joins afterwards.
    replicas[3].run("cluster", "join", "--bundle", out / "replica-3.bundle.json", "--bundle-passphrase-file", passphrase_file)
    replicas[3].fails("cluster", "join", "--bundle", out / "replica-3.bundle.json", "--bundle-passphrase-file", passphrase_file)


def test_hpke_bundle_opens_with_an_independent_hpke_and_its_keys_leave_the_operator(custos_bin: Path, tmp_path: Path):
    """The enrolment key is made here, so this test can open the HPKE bundle itself."""
    operator = Custos(custos_bin, tmp_path / "operator")
    operator.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    recipient = x25519.X25519PrivateKey.generate()
    public = recipient.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out = tmp_path / "bundles"
    out.mkdir()
    operator.run("cluster", "genesis", "--checkpoint-interval", "4", "--out", out, "--replica", f"0=127.0.0.1:19500,enrolment={public.hex()}")
    bundle = read_bundle(out / "replica-0.bundle.json")
    _signed, body = configuration_of(bundle)
    secrets = check_keys_match_configuration(open_hpke_bundle(bundle, recipient), body, 0)
    assert_nowhere_in(operator.data_dir, secrets)
    # Another recipient's key does not open it.
    with pytest.raises(Exception):
        open_hpke_bundle(bundle, x25519.X25519PrivateKey.generate())


def test_genesis_refuses_bad_replica_lists_and_writes_nothing(custos_bin: Path, tmp_path: Path):
    operator = Custos(custos_bin, tmp_path / "operator")
    operator.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    out = tmp_path / "bundles"
    out.mkdir()
    base = ["cluster", "genesis", "--checkpoint-interval", "4", "--out", out]
    assert "no enrolment key and no passphrase" in operator.fails(*base, "--replica", "0=127.0.0.1:19500")
    assert "0…N−1" in operator.fails(*base, "--replica", "1=127.0.0.1:19500", "--replica", "2=127.0.0.1:19501")
    assert "X25519" in operator.fails(*base, "--replica", "0=127.0.0.1:19500,enrolment=abcd")
    passphrase = operator.file(BUNDLE_PASSPHRASE, ".pass")
    assert "refused" in operator.fails(*base, "--bundle-passphrase-file", passphrase, "--bundle-scrypt-log-n", "10",
                                       "--replica", "0=127.0.0.1:19500", "--replica", "1=127.0.0.1:19500")
    assert list(out.iterdir()) == []
