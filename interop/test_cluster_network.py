"""Four `custos serve` replicas on loopback, from bundles to operational, over pinned mutual TLS.

The ledger's ordering is played by a stub sequencer (cluster_sequencer.py). Replica 3 starts
alone, stores its candidate record and cannot reach a quorum; it is killed with SIGKILL in that
state (mid key exchange), the three others certify and schedule their records, and replica 3,
restarted, re-sends the same stored record, has it certified and catches up. Then: every
replica's epoch-1 keys are active and every bootstrap private key is destroyed (the keystore says
so, and no file of any data directory holds its bytes, decrypted here from the bundles); the key
log verifies offline from genesis; and a consensus certificate the replicas made verifies in blst
(blspy) and py_ecc as FastAggregateVerify over the keys its bit-vector selects.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import time
from pathlib import Path

import pytest

from cluster_verify import verify_export  # noqa: E402
from cluster_certificates import (CONSENSUS_SHARE_DST, KEY_LOG_APPROVAL_DST, KEY_LOG_APPROVAL_TAG, cbor_decode, configuration_keys,
                                  consensus_message, decode_certificate, record_keys, signed_message, verify_with_blst,
                                  verify_with_py_ecc)
from cluster_nodes import certificate_files, free_port, wait_for
from cluster_sequencer import Replica, Sequencer
from custos_cli import SCRYPT_LOG_N, Custos
from server import Server
from test_cluster_genesis import (assert_nowhere_in, check_keys_match_configuration, cluster_key_states, configuration_of,
                                  open_passphrase_bundle, read_bundle)

N = 4
W = 4
BUNDLE_PASSPHRASE = "cluster-network-bundle-passphrase"


class Node:
    """One replica: its data directory, server, tokens and bootstrap secrets."""

    def __init__(self, runner: Custos, index: int):
        self.runner = runner
        self.index = index
        self.server = Server(runner, config={"cluster": {"round_interval_ms": 100, "peer_timeout_ms": 2000},
                                             "server": {"request_timeout_seconds": 30}})
        self.node_token = ""
        self.admin_token = ""
        self.secrets: list[bytes] = []
        self.peer_port = 0

    def status(self) -> dict | None:
        try:
            r = self.server.call("GET", "/v1/cluster/status", self.admin_token)
        except Exception:
            return None
        return r.json() if r.status_code == 200 else None

    def replica(self) -> Replica:
        return Replica(self.server.url, self.node_token)


@pytest.fixture
def network(custos_bin: Path, tmp_path: Path):
    operator = Custos(custos_bin, tmp_path / "operator")
    operator.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    nodes = []
    for index in range(N):
        runner = Custos(custos_bin, tmp_path / f"replica-{index}")
        runner.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
        nodes.append(Node(runner, index))
    out = tmp_path / "bundles"
    out.mkdir()
    passphrase_file = operator.file(BUNDLE_PASSPHRASE + "\n", ".pass")
    args = ["cluster", "genesis", "--checkpoint-interval", str(W), "--out", out, "--bundle-passphrase-file", passphrase_file,
            "--bundle-scrypt-log-n", "10", "--json"]
    for index in range(N):
        nodes[index].peer_port = free_port()
        args += ["--replica", f"{index}=127.0.0.1:{nodes[index].peer_port}"]
    genesis = operator.run(*args).json()
    for node in nodes:
        bundle = read_bundle(out / f"replica-{node.index}.bundle.json")
        _, body = configuration_of(bundle)
        node.secrets = check_keys_match_configuration(open_passphrase_bundle(bundle, BUNDLE_PASSPHRASE), body, node.index)
        node.runner.run("cluster", "join", "--bundle", out / f"replica-{node.index}.bundle.json", "--bundle-passphrase-file", passphrase_file)
        node.node_token = node.server.token("node")
        node.admin_token = node.server.token("admin")
    yield operator, nodes, genesis, out
    for node in nodes:
        node.server.stop(signal.SIGKILL)


def audit(node: Node, operation: str) -> list[dict]:
    r = node.server.call("GET", "/v1/audit", node.admin_token, params={"operation": operation, "limit": 1000})
    assert r.status_code == 200, r.text[:300]
    return r.json()["records"]


def test_four_replicas_from_bundles_to_operational_with_one_killed_mid_key_exchange(network):
    operator, nodes, genesis, out = network
    cluster_id = bytes.fromhex(genesis["cluster_id"])

    # Replica 3 alone: it stores its candidate and collects no quorum.
    late = nodes[3]
    late.server.start()
    pending = wait_for("replica 3's stored candidate", lambda: (s := late.status()) and s.get("pending_candidate"))
    assert pending == {"replica": 3, "generation": 0, "epoch": 1}
    # Its peer listener answers a replica's pinned key (replica 0's bootstrap TLS key, opened
    # from its bundle here) and nobody else.
    assert not peer_request_refused(late.peer_port, certificate_files(out, "replica-0", nodes[0].secrets[2]))
    assert peer_request_refused(late.peer_port, stranger_certificate(out))
    proposed = audit(late, "cluster.propose")
    assert len(proposed) == 1, proposed
    proposed_digest = proposed[0]["details"]["record_sha256"]
    late.server.stop(signal.SIGKILL)

    for node in nodes[:3]:
        node.server.start()
    sequencer = Sequencer([node.replica() for node in nodes], W)
    # Start-up: each replica sets its restore floor once Q (itself included) answer.
    wait_for("replicas 0–2 past recovering",
             lambda: all((s := n.status()) and s["phase"] != "recovering" for n in nodes[:3]))

    def epochs(node: Node) -> list[int]:
        status = node.status()
        return [keys["newest_certified"]["epoch"] for keys in status["replicas"]] if status else []

    wait_for("the records of replicas 0–2 scheduled", lambda: epochs(nodes[0])[:3] == [1, 1, 1], tick=sequencer.tick)

    # Replica 3 comes back: same stored record, certified now, scheduled, and its log caught up.
    late.server.start()
    late_sequencer_replica = sequencer.replicas[3]
    late_sequencer_replica.url = late.server.url
    wait_for("replica 3's record scheduled", lambda: epochs(nodes[0]) == [1, 1, 1, 1], tick=sequencer.tick)
    scheduled = {hashlib.sha256(raw).hexdigest(): s for raw, s in sequencer.scheduled.items()}
    assert proposed_digest in scheduled, "replica 3's certified record is not the candidate it stored before the kill"
    assert len(audit(late, "cluster.propose")) == 1, "replica 3 made a second candidate after its restart"

    def operational_everywhere() -> bool:
        statuses = [n.status() for n in nodes]
        if not all(statuses):
            return False
        return all(s["phase"] == "operational" and all(k["active"]["epoch"] == 1 for k in s["replicas"])
                   and s.get("latest_stable_boundary") is not None for s in statuses)

    wait_for("every replica operational with epoch-1 keys active", operational_everywhere, tick=sequencer.tick)

    def bootstrap_destroyed() -> bool:
        for node in nodes:
            r = node.server.call("GET", "/v1/tenants/cluster/keys", node.admin_token, params={"limit": 100})
            if r.status_code != 200:
                return False
            states = {k["alias"]: k["status"] for k in r.json()["keys"]}
            bootstrap = [alias for alias in states if alias.startswith(f"replica-{node.index}/g0/e0/")]
            if len(bootstrap) != 3 or any(states[a] != "destroyed" for a in bootstrap):
                return False
        return True

    wait_for("every bootstrap private key destroyed", bootstrap_destroyed, tick=sequencer.tick)
    statuses = [n.status() for n in nodes]
    lengths = {s["log_length"] for s in statuses}
    heads = {s["log_head"] for s in statuses}
    # The ledger is quiet now: the same notices reached everyone.
    assert len(lengths) == 1 and len(heads) == 1, statuses
    assert lengths == {4}
    assert sequencer.refusals == [], sequencer.refusals

    # A consensus certificate by the epoch-1 keys, verified outside Custos.
    t = sequencer.sequence + 1
    digest = hashlib.sha256(b"a block").digest()
    message = {"view": 0, "sequence": t, "phase": "commit", "digest": digest.hex()}
    shares = []
    for node in nodes:
        r = node.server.call("POST", "/v1/cluster/shares", node.node_token, message)
        assert r.status_code == 200, r.text[:300]
        shares.append(r.json())
    # The same request again returns the same share; another digest for the slot is refused.
    again = nodes[0].server.call("POST", "/v1/cluster/shares", nodes[0].node_token, message).json()
    assert again == shares[0]
    other = nodes[0].server.call("POST", "/v1/cluster/shares", nodes[0].node_token, {**message, "digest": "00" * 32})
    assert other.status_code == 422 and other.json()["code"] == "share-conflict", other.text[:300]

    combined = nodes[1].server.call("POST", "/v1/cluster/shares/combine", nodes[1].node_token, {**message, "shares": shares[:3]})
    assert combined.status_code == 200, combined.text[:300]
    certificate = base64.b64decode(combined.json()["certificate"])
    verified = nodes[2].server.call("POST", "/v1/cluster/shares/verify", nodes[2].node_token,
                                    {**message, "certificate": combined.json()["certificate"]})
    assert verified.status_code == 200 and verified.json() == {"valid": True, "signers": [0, 1, 2]}, verified.text[:300]

    log = nodes[3].server.call("GET", "/v1/cluster/log", nodes[3].admin_token).json()["entries"]
    consensus_keys = {}
    for entry in log:
        sequence, kind, record, record_certificate, status, _reason = cbor_decode(base64.b64decode(entry["entry"]))
        assert kind == 0  # replica records only: no command was issued
        assert status == 0
        name, key = record_keys(record)
        consensus_keys[name] = key
    aggregate, signers, signer_keys = decode_certificate(certificate, N)
    assert signers == [0, 1, 2] and signer_keys == [(0, 1)] * 3
    selected = [consensus_keys[(r, g, e)] for r, (g, e) in zip(signers, signer_keys)]
    signed = consensus_message(cluster_id, 0, t, "commit", digest)
    assert verify_with_blst(selected, signed, aggregate, CONSENSUS_SHARE_DST)
    assert verify_with_py_ecc(selected, signed, aggregate, CONSENSUS_SHARE_DST)
    # Neither accepts it over another digest, or over the keys of other replicas.
    tampered = consensus_message(cluster_id, 0, t, "commit", bytes(32))
    assert not verify_with_blst(selected, tampered, aggregate, CONSENSUS_SHARE_DST)
    assert not verify_with_blst([consensus_keys[(r, 0, 1)] for r in (1, 2, 3)], signed, aggregate, CONSENSUS_SHARE_DST)

    # A key-exchange certificate from the log: approvals by the bootstrap keys (keyset at s).
    sequence, _, record, record_certificate, _, _ = cbor_decode(base64.b64decode(log[0]["entry"]))
    signed_configuration, _ = configuration_of(read_bundle(out / "replica-0.bundle.json"))
    bootstrap = configuration_keys(signed_configuration)
    aggregate, signers, signer_keys = decode_certificate(record_certificate, N)
    assert len(signers) >= 3 and all(k == (0, 0) for k in signer_keys)
    (r, g, e), _ = record_keys(record)
    approval = signed_message(KEY_LOG_APPROVAL_TAG, cluster_id, [r, g, e, hashlib.sha256(record).digest()])
    assert verify_with_blst([bootstrap[(i, 0, 0)] for i in signers], approval, aggregate, KEY_LOG_APPROVAL_DST)

    # The peer listener speaks only to a replica's pinned key: a stranger's certificate, and no
    # certificate at all, get no answer to a peer request.
    for client_certificate in (stranger_certificate(out), None):
        assert peer_request_refused(nodes[0].peer_port, client_certificate)

    # The command line through a server: its status and its exported log, verified from genesis.
    env = dict(nodes[1].runner.env, CUSTOS_TOKEN=nodes[1].admin_token)
    remote = nodes[1].runner.run("cluster", "status", "--server", nodes[1].server.url, "--json", env=env).json()
    assert remote["phase"] == "operational" and remote["log_head"] == statuses[0]["log_head"] and remote["replica"] == 1
    remote_log = nodes[1].runner.run("cluster", "log", "verify", "--server", nodes[1].server.url, "--json", env=env).json()
    assert remote_log["valid"] and remote_log["head"] == statuses[0]["log_head"], remote_log

    for node in nodes:
        assert node.server.stop() == 0, node.server.log_path.read_text()[-3000:]
    # Locally, without peers: the same log, and no restore floor known.
    local = nodes[0].runner.run("cluster", "status", "--json").json()
    assert local["log_head"] == statuses[0]["log_head"] and local["log_length"] == 4 and local["phase"] == "recovering"
    assert all(keys["active"]["epoch"] == 1 for keys in local["replicas"]), local

    # After activation: the keystore says destroyed, and no file holds the bootstrap keys' bytes.
    for node in nodes:
        states = cluster_key_states(node.runner)
        assert {a: s for a, s in states.items() if a.startswith(f"replica-{node.index}/g0/e0/")} == {
            f"replica-{node.index}/g0/e0/{kind}": "destroyed" for kind in ("consensus", "main", "tls")}
        assert [s for a, s in states.items() if a.startswith(f"replica-{node.index}/g0/e1/")] == ["enabled"] * 3, states
        assert assert_nowhere_in(node.runner.data_dir, node.secrets) > 0
    assert_nowhere_in(operator.data_dir, [s for node in nodes for s in node.secrets])

    # The key log verifies offline from genesis, from a file and against what a server exports.
    export = nodes[3].runner.workdir / "log.cbor"
    nodes[3].runner.run("cluster", "log", "export", "--out", export)
    report = nodes[3].runner.run("cluster", "log", "verify", export, "--json").json()
    assert report["valid"] and report["entries"] == 4 and report["accepted"] == 4 and report["checkpoints_verified"] >= 1, report
    assert report["head"] == statuses[0]["log_head"]
    # The same export, recomputed from genesis by code written from docs/cluster.md alone
    # (cbor2, blspy, py_ecc, cryptography): every entry's status, the chain and each checkpoint.
    independent = verify_export(export.read_bytes(), cross_check_py_ecc=True)
    assert len(independent.accepted) == 4 and independent.certificates_checked == 4
    assert independent.heads[-1].hex() == statuses[0]["log_head"] and independent.checkpoints
    # One byte changed in an entry's record: the replay refuses it.
    raw = bytearray(export.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    export.write_bytes(bytes(raw))
    broken = nodes[3].runner.run("cluster", "log", "verify", export, "--json", expect=1)
    assert broken.code == 1 and not broken.json()["valid"], broken.out


def stranger_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-384 certificate no replica lists."""
    from cryptography.hazmat.primitives.asymmetric import ec
    return certificate_files(directory, "stranger", ec.generate_private_key(ec.SECP384R1()))


def peer_request_refused(port: int, client_certificate: tuple[Path, Path] | None) -> bool:
    """True when a peer request [5] (status) over TLS 1.3 gets no HTTP answer."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if client_certificate:
        context.load_cert_chain(*map(str, client_certificate))
    body = bytes([0x81, 0x05])
    request = (f"POST /v1/cluster/peer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/cbor\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(request)
                answer = tls.recv(4096)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return not answer.startswith(b"HTTP/1.1")

