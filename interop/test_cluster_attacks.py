"""The replica network attacked from outside: a stranger and a byzantine replica on the peer
port, a careless or hostile ledger node on the node routes, an operator's mistakes, and a
tamperer who edits a replica's cluster rows in SQLite.

After each attack the replica answers with a clear error (no secret, no control character
echoed), stays up, keeps serving honest peers and changes nothing. Every loop is bounded in
count and time, every process is stopped by its PID, and everything stays on 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cluster_certificates import cbor_decode
from cluster_sequencer import Sequencer
from custos_cli import SCRYPT_LOG_N, Custos, edit_database
from server import Server
from test_cluster_genesis import check_keys_match_configuration, cluster_key_states, configuration_of, open_passphrase_bundle, read_bundle
from cluster_nodes import certificate_files, free_port, peer_post, tls_context, wait_for
from test_cluster_network import Node

N = 4
W = 4
BUNDLE_PASSPHRASE = "cluster-attack-bundle-passphrase"
PEER_BODY_LIMIT = 64 * 1024
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# -- CBOR, just enough to build hostile bodies ----------------------------------------------

def cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError(value)


def cbor(value) -> bytes:
    if isinstance(value, bool) or value is None:
        return {False: b"\xf4", True: b"\xf5", None: b"\xf6"}[value]
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return cbor_head(3, len(raw)) + raw
    if isinstance(value, list):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


# -- the peer port -----------------------------------------------------------------------------

def refused_at_handshake(port: int, identity: tuple[Path, Path] | None) -> str:
    """A call that must not reach the handler; returns how it was refused."""
    try:
        status, body = peer_post(port, cbor([5]), identity, timeout=10)
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as error:
        return type(error).__name__
    raise AssertionError(f"the peer listener answered {status} {body[:200]!r} to a caller it must not accept")


def assert_clear_refusal(status: int, body: bytes, allowed=(400, 413, 422)) -> str:
    assert status in allowed, (status, body[:300])
    text = body.decode("utf-8")  # plain text, valid UTF-8
    assert not CONTROL.search(text.rstrip("\n")), f"control characters in a refusal: {text[:300]!r}"
    assert len(text) < 4096, "a refusal echoes the request"
    return text


# -- one network for the module ---------------------------------------------------------------

class Network:
    def __init__(self, nodes: list[Node], peer_ports: list[int], identities: list[tuple[Path, Path]], out: Path,
                 passphrase_file: Path, workdir: Path):
        self.nodes = nodes
        self.peer_ports = peer_ports
        self.identities = identities  # each replica's bootstrap TLS key as a client certificate
        self.out = out
        self.passphrase_file = passphrase_file
        self.workdir = workdir
        self.sequencer = Sequencer([node.replica() for node in nodes], W)

    def alive(self) -> bool:
        return all(node.server.proc.poll() is None for node in self.nodes)

    def operational(self) -> bool:
        statuses = [n.status() for n in self.nodes]
        return all(s and s["phase"] == "operational" and all(k["active"]["epoch"] == 1 for k in s["replicas"])
                   and s.get("latest_stable_boundary") is not None for s in statuses)

    def ensure_operational(self) -> None:
        wait_for("every replica operational", self.operational, tick=self.sequencer.tick)


@pytest.fixture(scope="module")
def network(custos_bin: Path, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("attacks")
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
    peer_ports = [free_port() for _ in range(N)]
    args = ["cluster", "genesis", "--checkpoint-interval", str(W), "--out", out, "--bundle-passphrase-file", passphrase_file,
            "--bundle-scrypt-log-n", "10"]
    for index in range(N):
        args += ["--replica", f"{index}=127.0.0.1:{peer_ports[index]}"]
    operator.run(*args)
    identities = []
    for node in nodes:
        bundle = read_bundle(out / f"replica-{node.index}.bundle.json")
        _, body = configuration_of(bundle)
        node.secrets = check_keys_match_configuration(open_passphrase_bundle(bundle, BUNDLE_PASSPHRASE), body, node.index)
        tls_key = ec.derive_private_key(int.from_bytes(node.secrets[2], "big"), ec.SECP384R1())
        identities.append(certificate_files(tmp_path, f"replica-{node.index}-bootstrap", tls_key))
        node.runner.run("cluster", "join", "--bundle", out / f"replica-{node.index}.bundle.json", "--bundle-passphrase-file", passphrase_file)
        node.node_token = node.server.token("node")
        node.admin_token = node.server.token("admin")
    for node in nodes:
        node.server.start()
    yield Network(nodes, peer_ports, identities, out, passphrase_file, tmp_path)
    for node in nodes:
        node.server.stop(signal.SIGKILL)


# -- the peer port ------------------------------------------------------------------------------

def test_peer_port_refuses_strangers_and_hostile_bodies_and_keeps_serving(network: Network):
    port = network.peer_ports[0]
    replica_one = network.identities[1]
    # Baseline: a replica's certificate, a status request.
    status, body = peer_post(port, cbor([5]), replica_one)
    assert status == 200, body[:300]
    assert isinstance(cbor_decode(body), list)

    # No client certificate, and a stranger's P-384 certificate: refused in the handshake.
    refused_at_handshake(port, None)
    stranger = certificate_files(network.workdir, "stranger", ec.generate_private_key(ec.SECP384R1()))
    refused_at_handshake(port, stranger)
    # A stranger presenting a replica's certificate without its key cannot even load it.
    with pytest.raises(ssl.SSLError):
        tls_context((replica_one[0], stranger[1]))

    # Plain HTTP on the TLS port: no HTTP answer.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"POST /v1/cluster/peer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n\x81\x05")
        try:
            answer = raw.recv(4096)
        except (ConnectionError, socket.timeout):
            answer = b""
        assert not answer.startswith(b"HTTP/"), answer[:200]

    # Malformed, truncated, wrongly typed and extreme bodies from a pinned replica.
    u64 = 2**64 - 1
    hostile = {
        "empty": b"",
        "not CBOR": b"\xff\xff\xff",
        "truncated array": b"\x83\x02\x00",
        "truncated integer": b"\x82\x02\x1b\x00\x00",
        "trailing bytes": cbor([5]) + b"\x00",
        "a map": cbor({1: 2}),
        "a string": cbor("status"),
        "kind 0": cbor([0]),
        "kind 9": cbor([9, 1, 2]),
        "kind u64": cbor([u64]),
        "negative kind": cbor([-1]),
        "status with arguments": cbor([5, 1]),
        "log with text index": cbor([2, "0", 10]),
        "log with negative limit": cbor([2, 0, -1]),
        "proposal of garbage": cbor([1, b"\x00" * 100]),
        "proposal of a list": cbor([1, [1, 2, 3]]),
        "bstr of declared length 2^63": b"\x82\x01\x5b" + (2**63).to_bytes(8, "big"),
        "array of declared length 2^64-1": b"\x9b" + u64.to_bytes(8, "big"),
        "deeply nested arrays": b"\x81" * 60000 + b"\x00",
        "deeply nested indefinite arrays": b"\x9f" * 60000,
        "deeply nested tags": b"\xc6" * 60000 + b"\x00",
    }
    wrong = []
    for name, body in hostile.items():
        try:
            status, answer = peer_post(port, body, replica_one)
            assert_clear_refusal(status, answer)
        except Exception as error:
            wrong.append(f"{name}: {error!r}"[:400])
        assert network.nodes[0].server.proc.poll() is None, f"replica 0 died on {name}"
    assert wrong == [], "\n".join(wrong)

    # Requests that are well-formed but extreme: answered, and bounded.
    for body in (cbor([2, 0, u64]), cbor([2, u64, u64]), cbor([3, 0, u64]), cbor([3, u64, 1]), cbor([4, 0]), cbor([4, u64])):
        status, answer = peer_post(port, body, replica_one)
        assert status in (200, 422), (status, answer[:300])
        if status == 200:
            assert len(answer) <= 4 * 1024 * 1024
            cbor_decode(answer)
        else:
            assert_clear_refusal(status, answer)

    # Past 64 KiB: 413, whether the length is declared or the body just keeps coming.
    status, answer = peer_post(port, b"\x00" * (PEER_BODY_LIMIT + 1), replica_one)
    assert status == 413, (status, answer[:200])

    # A flood: 200 calls from 8 threads, each answered or refused cleanly, none lost in a crash.
    outcomes: list = []
    lock = threading.Lock()

    def flood(count: int):
        for _ in range(count):
            try:
                result = peer_post(port, cbor([5]), replica_one, timeout=20)[0]
            except Exception as error:  # a refused connection under load is acceptable, a crash is not
                result = type(error).__name__
            with lock:
                outcomes.append(result)

    started = time.time()
    threads = [threading.Thread(target=flood, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    flood_seconds = time.time() - started
    assert len(outcomes) == 200 and outcomes.count(200) >= 190, outcomes
    print(f"peer flood: 200 calls in {flood_seconds:.1f} s, {outcomes.count(200)} answered")

    # Slowloris: 30 connections that send half a request and stall; an honest call still gets through.
    slow = []
    try:
        for _ in range(30):
            connection = tls_context(replica_one).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
            connection.sendall(b"POST /v1/cluster/peer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n")
            slow.append(connection)
        status, _ = peer_post(port, cbor([5]), replica_one, timeout=10)
        assert status == 200
    finally:
        for connection in slow:
            connection.close()

    # Pipelining: 50 requests in one write on one connection; answered in order or the connection closed.
    pipelined = tls_context(replica_one).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
    try:
        request = (b"POST /v1/cluster/peer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/cbor\r\n"
                   b"Content-Length: 2\r\n\r\n" + cbor([5]))
        pipelined.sendall(request * 50)
        received = b""
        end = time.time() + 20
        while time.time() < end and received.count(b"HTTP/1.1 ") < 50:
            try:
                chunk = pipelined.recv(65536)
            except (socket.timeout, ssl.SSLError, ConnectionError):
                break
            if not chunk:
                break
            received += chunk
        statuses = re.findall(rb"HTTP/1\.1 (\d{3})", received)
        assert all(s == b"200" for s in statuses), statuses[:10]
        print(f"pipelining: {len(statuses)} of 50 answered on one connection")
    finally:
        pipelined.close()

    # Still up and still serving peers.
    assert network.alive()
    status, body = peer_post(port, cbor([5]), network.identities[2])
    assert status == 200


def closed_by_server(connection: socket.socket, started: float, deadline: float) -> float | None:
    """Seconds from `started` until the server closed `connection`, or None if still open at the deadline."""
    connection.settimeout(1)
    while time.time() - started < deadline:
        try:
            if connection.recv(4096) == b"":
                return time.time() - started
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return time.time() - started
    return None


def test_stalled_peer_connections_are_closed(network: Network):
    """A connection that never finishes its handshake, or its request head, is closed by the
    replica; otherwise a stranger holds the connection slots that its peers need."""
    port = network.peer_ports[2]
    opened = time.time()
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)  # TCP only, no ClientHello
    half = tls_context(network.identities[1]).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
    half.sendall(b"POST /v1/cluster/peer HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        half_closed = closed_by_server(half, opened, 30)
        silent_closed = closed_by_server(silent, opened, 30)
    finally:
        half.close()
        silent.close()
    print(f"stalled request head closed after {half_closed} s, silent TCP connection after {silent_closed} s")
    assert half_closed is not None and half_closed > 5, "a request head that never ends keeps its connection (or the handshake failed)"
    assert silent_closed is not None, "a TCP connection that never starts TLS keeps its connection"
    assert network.alive()


def test_network_becomes_operational_after_the_attacks_and_retired_pins_are_refused(network: Network):
    network.ensure_operational()
    assert network.sequencer.refusals == [], network.sequencer.refusals
    # The bootstrap TLS keys are retired: their certificates no longer open the peer port.
    def bootstrap_refused() -> bool:
        try:
            status, _ = peer_post(network.peer_ports[0], cbor([5]), network.identities[1], timeout=5)
        except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
            return True
        return status in (401, 403)
    wait_for("replica 1's bootstrap certificate refused by replica 0", bootstrap_refused, tick=network.sequencer.tick, deadline=30)


# -- the node routes ------------------------------------------------------------------------------

def problem_text(response) -> str:
    text = response.text
    assert not CONTROL.search(text), f"control character in {text[:300]!r}"
    assert "\\u00" not in text, f"an escaped control character echoed: {text[:300]!r}"
    return text


def test_node_routes_refuse_other_tokens_and_hostile_json(network: Network):
    network.ensure_operational()
    node, other = network.nodes[0], network.nodes[1]
    sequencer = network.sequencer
    head_before = node.status()["log_head"]
    t = sequencer.sequence + 1
    message = {"view": 0, "sequence": t, "phase": "commit", "digest": hashlib.sha256(b"attack block").hexdigest()}

    # Tokens: none, an admin's, another data directory's node token.
    assert node.server.call("POST", "/v1/cluster/shares", None, message).status_code == 401
    assert node.server.call("POST", "/v1/cluster/shares", node.admin_token, message).status_code == 403
    assert node.server.call("POST", "/v1/cluster/shares", other.node_token, message).status_code == 401
    assert node.server.call("POST", "/v1/cluster/schedule", node.admin_token, {"sequence": 1, "record": "", "certificate": ""}).status_code == 403
    assert node.server.call("POST", "/v1/cluster/checkpoints", other.node_token, {"boundary": W, "ledger_digest": "00" * 32}).status_code == 401

    # Hostile JSON: control characters, wrong lengths, numbers out of range, wrong types.
    bad = [
        {**message, "digest": "ab" * 31},
        {**message, "digest": "ab" * 33},
        {**message, "digest": "\u0007\u001b[31m" + "a" * 58},
        {**message, "digest": "zz" * 32},
        {**message, "phase": "commit\u0000"},
        {**message, "phase": "\u001b[2J"},
        {**message, "sequence": 2**64},
        {**message, "sequence": -1},
        {**message, "sequence": 1.5},
        {**message, "sequence": "1"},
        {**message, "view": 10**400},
        {key: value for key, value in message.items() if key != "digest"},
    ]
    for body in bad:
        r = node.server.call("POST", "/v1/cluster/shares", node.node_token, body)
        assert r.status_code in (400, 422), (body, r.status_code, r.text[:300])
        problem_text(r)
    r = node.server.call("POST", "/v1/cluster/shares", node.node_token, raw=b'{"view": 0, "sequence": 1e99999, "phase": "commit", "digest": "00"}')
    assert r.status_code == 400, r.text[:300]
    problem_text(r)
    r = node.server.call("POST", "/v1/cluster/shares", node.node_token, raw=b"[" * 100000)
    assert r.status_code in (400, 413), r.text[:300]

    # Schedule notices out of order, and one for a sequence already taken.
    record = base64.b64encode(b"\x00" * 64).decode()
    for sequence in (sequencer.sequence + 7, 1, 0, 2**63):
        r = node.server.call("POST", "/v1/cluster/schedule", node.node_token, {"sequence": sequence, "record": record, "certificate": record})
        assert r.status_code in (400, 409, 422), (sequence, r.status_code, r.text[:300])
        problem_text(r)
    r = node.server.call("POST", "/v1/cluster/schedule", node.node_token, {"sequence": sequencer.sequence + 1, "record": "\u0007!!", "certificate": ""})
    assert r.status_code == 400, r.text[:300]
    problem_text(r)

    # Checkpoint notices off a boundary, with a short digest, and a decided boundary with another digest.
    decided = max(sequencer.checkpoints)
    for body in ({"boundary": decided + 1, "ledger_digest": "00" * 32}, {"boundary": 0, "ledger_digest": "00" * 32},
                 {"boundary": decided + W, "ledger_digest": "00" * 31}, {"boundary": decided, "ledger_digest": "11" * 32},
                 {"boundary": 2**64 - 1, "ledger_digest": "00" * 32}):
        r = node.server.call("POST", "/v1/cluster/checkpoints", node.node_token, body)
        assert r.status_code in (400, 409, 422), (body, r.status_code, r.text[:300])
        problem_text(r)

    # Huge page sizes and indexes on the log.
    for params in ({"limit": 10**30}, {"limit": -1}, {"after": 2**64}, {"after": "x"}):
        r = node.server.call("GET", "/v1/cluster/log", node.node_token, params=params)
        assert r.status_code == 400, (params, r.status_code, r.text[:300])
        problem_text(r)
    r = node.server.call("GET", "/v1/cluster/log", node.node_token, params={"after": 2**64 - 1, "limit": 1000})
    assert r.status_code in (200, 400) and (r.status_code == 400 or r.json()["entries"] == [])

    # Nothing changed: the same log, and the honest network still produces certificates.
    assert node.status()["log_head"] == head_before
    shares = []
    for n in network.nodes:
        r = n.server.call("POST", "/v1/cluster/shares", n.node_token, message)
        assert r.status_code == 200, r.text[:300]
        shares.append(r.json())
    combined = node.server.call("POST", "/v1/cluster/shares/combine", node.node_token, {**message, "shares": shares[:3]})
    assert combined.status_code == 200, combined.text[:300]
    for _ in range(W + 1):
        sequencer.tick()
    assert sequencer.refusals == [], sequencer.refusals
    assert network.alive()


# -- operator mistakes ----------------------------------------------------------------------------

def one_replica_cluster(custos_bin: Path, tmp_path: Path, name: str, replica_dirs: int = 1):
    """An operator, `replica_dirs` initialised data directories and a one-replica genesis in `name`."""
    operator = Custos(custos_bin, tmp_path / f"{name}-operator")
    operator.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
    replicas = []
    for index in range(replica_dirs):
        runner = Custos(custos_bin, tmp_path / f"{name}-replica-{index}")
        runner.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
        replicas.append(runner)
    out = tmp_path / f"{name}-bundles"
    out.mkdir()
    passphrase_file = operator.file(BUNDLE_PASSPHRASE + "\n", ".pass")
    port = free_port()
    operator.run("cluster", "genesis", "--checkpoint-interval", str(W), "--out", out, "--bundle-passphrase-file", passphrase_file,
                 "--bundle-scrypt-log-n", "10", "--replica", f"0=127.0.0.1:{port}")
    return operator, replicas, out / "replica-0.bundle.json", passphrase_file, port


def key_states(replica: Custos) -> dict[str, str]:
    """The cluster tenant's keys and their states; {} before any join made the tenant."""
    listing = replica.run("key", "list", "--tenant", "cluster", "--json", expect=None)
    if listing.code != 0:
        assert "does not exist" in listing.err, listing.err
        return {}
    return cluster_key_states(replica)


def join_refused(replica: Custos, bundle: Path, passphrase_file: Path) -> str:
    """A join that must fail cleanly and change nothing in the keystore."""
    before = key_states(replica)
    membership_before = replica.run("cluster", "status", "--json", expect=None)
    error = replica.fails("cluster", "join", "--bundle", bundle, "--bundle-passphrase-file", passphrase_file)
    assert not CONTROL.search(error.rstrip("\n")), error
    assert key_states(replica) == before, "a refused join changed the keystore"
    membership_after = replica.run("cluster", "status", "--json", expect=None)
    assert (membership_after.code, membership_after.out) == (membership_before.code, membership_before.out)
    return error


def test_operator_mistakes_are_refused_and_change_nothing(custos_bin: Path, tmp_path: Path):
    operator, (replica, spare), bundle, passphrase_file, port = one_replica_cluster(custos_bin, tmp_path, "a", replica_dirs=2)

    # Genesis into an output directory that already holds a file: refused, the file untouched.
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    (crowded / "replica-0.bundle.json").write_text("an operator's earlier bundle")
    error = operator.fails("cluster", "genesis", "--checkpoint-interval", str(W), "--out", crowded, "--bundle-passphrase-file",
                           passphrase_file, "--bundle-scrypt-log-n", "10", "--replica", f"0=127.0.0.1:{free_port()}")
    assert "exist" in error or "empty" in error, error
    assert [p.name for p in crowded.iterdir()] == ["replica-0.bundle.json"]
    assert (crowded / "replica-0.bundle.json").read_text() == "an operator's earlier bundle"

    # A bundle with trailing garbage, or one changed byte anywhere in the file: refused, nothing imported.
    raw = bundle.read_bytes()
    garbage = spare.file(raw + b"\n}garbage\x1b[2J", ".json")
    join_refused(spare, garbage, passphrase_file)
    for position in (len(raw) // 3, len(raw) // 2, len(raw) - 40):
        changed = bytearray(raw)
        changed[position] = ord("A") if changed[position] != ord("A") else ord("B")
        join_refused(spare, spare.file(bytes(changed), ".json"), passphrase_file)
    # The passphrase with a trailing newline (as editors save it) opens it; a trailing space does not.
    spaced = spare.file(BUNDLE_PASSPHRASE + " ", ".pass")
    assert "passphrase is wrong" in join_refused(spare, bundle, spaced)
    crlf = spare.file(BUNDLE_PASSPHRASE + "\r\n", ".pass")
    crlf_join = spare.run("cluster", "join", "--bundle", bundle, "--bundle-passphrase-file", crlf, expect=None)
    print(f"bundle passphrase file ending in CR LF: join exit {crlf_join.code}")

    # Join, then the same bundle again, then another cluster's bundle: refused, membership unchanged.
    replica.run("cluster", "join", "--bundle", bundle, "--bundle-passphrase-file", passphrase_file)
    joined = replica.run("cluster", "status", "--json").json()
    assert "already" in join_refused(replica, bundle, passphrase_file)
    _, _, other_bundle, other_passphrase, _ = one_replica_cluster(custos_bin, tmp_path, "b")
    assert "already" in join_refused(replica, other_bundle, other_passphrase)
    assert replica.run("cluster", "status", "--json").json()["cluster_id"] == joined["cluster_id"]

    # serve with its peer port taken by another process: it stops at start, naming the address,
    # instead of serving a replica that its peers cannot reach.
    server = Node(replica, 0).server
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        process = subprocess.Popen([str(replica.binary), "serve", "--config", str(server.config_path)], env=server.env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        err = process.stderr.read().decode()
        assert code != 0, err[-1500:]
        assert f"cannot listen for peers on 127.0.0.1:{port}" in err, err[-1500:]
    # A malformed peer_listen: refused at start, escaped.
    bad = Server(replica, config={"cluster": {"peer_listen": "nonsense\u001b[2J"}})
    with pytest.raises(AssertionError) as failed:
        bad.start(timeout=30)
        bad.stop(signal.SIGKILL)
    assert "peer_listen" in str(failed.value) and "\x1b" not in bad.log_path.read_text()
    # With the port free again (and the configuration rewritten), the same directory serves.
    server = Node(replica, 0).server
    server.start()
    assert server.call("GET", "/v1/cluster/status", server.token("admin")).status_code == 200
    assert server.stop() == 0


def test_join_killed_midway_leaves_a_directory_that_joins_or_says_it_has(custos_bin: Path, tmp_path: Path):
    _operator, replicas, bundle, passphrase_file, _port = one_replica_cluster(custos_bin, tmp_path, "k", replica_dirs=3)
    outcomes = []
    for replica, delay in zip(replicas, (0.05, 0.2, 0.5)):
        process = subprocess.Popen([str(replica.binary), "cluster", "join", "--bundle", str(bundle), "--bundle-passphrase-file",
                                    str(passphrase_file)], env=replica.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        again = replica.run("cluster", "join", "--bundle", bundle, "--bundle-passphrase-file", passphrase_file, expect=None)
        assert again.code == 0 or "already" in again.err, again.err
        outcomes.append(again.code)
        # Either way: joined, with exactly the three bootstrap keys of replica 0, and a status that reads.
        states = cluster_key_states(replica)
        assert sorted(a for a in states if a.startswith("replica-")) == [f"replica-0/g0/e0/{k}" for k in ("consensus", "main", "tls")], states
        assert replica.run("cluster", "status", "--json").json()["replica"] == 0
    print(f"join killed after 0.05/0.2/0.5 s, then joined again: exits {outcomes}")


# -- a tamperer with the replica's database ----------------------------------------------------------

def database_files(runner: Custos) -> list[Path]:
    return [runner.data_dir / name for name in ("custos.sqlite", "custos.sqlite-wal", "custos.sqlite-shm")]


def test_tampered_cluster_rows_stop_the_replica_or_are_refused(network: Network):
    """Decided behaviour: a replica whose stored log, membership or row types were edited does
    not start (its server stays up for the keystore, status says recovering, every cluster
    operation is refused, the log names the cause); lost decision rows (share watermarks,
    checkpoint decisions) are covered after a restart by the restore floor and the low
    watermark, so the replica never signs a second value for what it signed before."""
    network.ensure_operational()
    sequencer = network.sequencer
    victim = network.nodes[3]
    # A slot every replica signs now, so that replica 3 holds a watermark row for it.
    t = sequencer.sequence + 1
    signed = {"view": 0, "sequence": t, "phase": "prepare", "digest": hashlib.sha256(b"signed before tampering").hexdigest()}
    for node in network.nodes:
        r = node.server.call("POST", "/v1/cluster/shares", node.node_token, signed)
        assert r.status_code == 200, r.text[:300]
    decided = max(sequencer.checkpoints)

    assert victim.server.stop() == 0
    # Its own peer address, named: with a membership row edited to another replica's, the
    # listener would otherwise try that replica's address (taken here, on one host, so serve
    # would stop at start) and the keys check below would not be reached.
    config = json.loads(victim.server.config_path.read_text())
    config.setdefault("cluster", {})["peer_listen"] = f"127.0.0.1:{network.peer_ports[3]}"
    victim.server.config_path.write_text(json.dumps(config))
    backup = network.workdir / "replica-3-backup"
    backup.mkdir()
    for path in database_files(victim.runner):
        if path.exists():
            shutil.copy(path, backup / path.name)

    def restore():
        for path in database_files(victim.runner):
            path.unlink(missing_ok=True)
            if (backup / path.name).exists():
                shutil.copy(backup / path.name, path)

    def start_tampered(*statements: str) -> str:
        restore()
        edit_database(victim.runner, *statements)
        victim.server.start()
        def attempted() -> str:
            text = victim.server.log_path.read_text(errors="replace")
            return text if ("replica start failed" in text or "replica running" in text) else ""
        return wait_for("replica 3's start attempt in its log", attempted, deadline=60)

    def refused_everything(log: str, cause: str) -> None:
        assert cause in log, log[-2000:]
        assert not CONTROL.search(log.replace("\n", "")), "control characters in the server log"
        status = victim.status()
        assert status["phase"] == "recovering" and status["log_length"] == 0, status
        assert cause in status.get("start_error", ""), status  # the operator sees why, not only the log
        assert not CONTROL.search(status["start_error"])
        r = victim.server.call("POST", "/v1/cluster/shares", victim.node_token, {**signed, "sequence": t + 1})
        assert r.status_code in (409, 422) and r.json()["code"] == "recovering", r.text[:300]
        problem_text(r)
        assert victim.server.proc.poll() is None
        victim.server.stop()

    # One byte of a stored log entry changed (still a blob): the replay from genesis refuses it.
    log = start_tampered("UPDATE cluster_log SET entry = CAST(substr(entry, 1, 40) || X'00' || substr(entry, 42) AS BLOB) "
                         "WHERE idx = (SELECT min(idx) FROM cluster_log)")
    refused_everything(log, "differs from the one computed from genesis")
    # The head column of the last entry zeroed: the same.
    log = start_tampered("UPDATE cluster_log SET head = zeroblob(32) WHERE idx = (SELECT max(idx) FROM cluster_log)")
    refused_everything(log, "differs from the one computed from genesis")
    # The last entry deleted: the log no longer reproduces its stable checkpoint.
    log = start_tampered("DELETE FROM cluster_log WHERE idx = (SELECT max(idx) FROM cluster_log)")
    refused_everything(log, "does not match the stable checkpoint")
    # An entry stored as text instead of a blob: named by the problem, never by its bytes.
    log = start_tampered("UPDATE cluster_log SET entry = 'x' || CAST(entry AS TEXT) WHERE idx = (SELECT min(idx) FROM cluster_log)")
    refused_everything(log, "does not have the expected type")
    # The membership row names another replica: this directory holds none of its keys.
    log = start_tampered("UPDATE cluster_membership SET replica = 2")
    refused_everything(log, "holds none of the keys of replica 2")

    # The share watermark rows deleted: after the restart the restore floor refuses the slot,
    # for the digest it signed and for another one.
    start_tampered("DELETE FROM cluster_shares")
    wait_for("replica 3 past recovering", lambda: (s := victim.status()) and s["phase"] != "recovering", tick=sequencer.tick)
    for digest in (signed["digest"], hashlib.sha256(b"equivocation").hexdigest()):
        r = victim.server.call("POST", "/v1/cluster/shares", victim.node_token, {**signed, "digest": digest})
        assert r.status_code == 422 and r.json()["code"] == "below-floor", r.text[:300]
    # The checkpoint decisions deleted: a decided boundary with another digest is still refused.
    r = victim.server.call("POST", "/v1/cluster/checkpoints", victim.node_token, {"boundary": decided, "ledger_digest": "22" * 32})
    assert r.status_code in (409, 422), r.text[:300]
    problem_text(r)
    victim.server.stop()

    # Meanwhile the honest replicas kept certifying: a fresh consensus certificate from 0, 1, 2.
    for _ in range(W):
        sequencer.tick()
    fresh = {**signed, "sequence": sequencer.sequence + 1, "digest": hashlib.sha256(b"after").hexdigest()}
    shares = []
    for node in network.nodes[:3]:
        r = node.server.call("POST", "/v1/cluster/shares", node.node_token, fresh)
        assert r.status_code == 200, r.text[:300]
        shares.append(r.json())
    combined = network.nodes[0].server.call("POST", "/v1/cluster/shares/combine", network.nodes[0].node_token, {**fresh, "shares": shares})
    assert combined.status_code == 200, combined.text[:300]
    assert all(node.server.proc.poll() is None for node in network.nodes[:3])
