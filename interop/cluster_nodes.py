"""A replica network of real `custos serve` processes on loopback, for the multi-process tests
(test_cluster_rotation.py, test_cluster_commands.py) and the rotation benchmark
(scripts/cluster-rotation-bench.py).

An operator data directory runs genesis; each replica joins with its bundle and serves with a
node token for the ledger side (the stub sequencer, cluster_sequencer.py) and an admin token;
each client node runs `custos cluster client init` on its own data directory and serves too
(it follows the log from the replicas and rotates when ordered). The operator issues commands
through the CLI, submitted to a replica's HTTP API. Every process is stopped by its PID; every
wait is bounded in time.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import cluster_forge as forge
import cluster_verify as v
from cluster_sequencer import Replica, Sequencer
from custos_cli import SCRYPT_LOG_N, Custos
from server import Server

BUNDLE_PASSPHRASE = "cluster-nodes-bundle-passphrase"
DEADLINE = 120  # seconds for any one phase; every loop is bounded by it
PHASES = ("pre-prepare", "prepare", "commit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, condition, tick=None, deadline: float = DEADLINE, pause: float = 0.1):
    """Calls `tick` then `condition` until it holds; fails naming `what` past the deadline."""
    end = time.time() + deadline
    rounds = 0
    while time.time() < end:
        if tick:
            tick()
        result = condition()
        if result:
            return result
        rounds += 1
        time.sleep(pause)
    raise AssertionError(f"timed out after {deadline} s ({rounds} rounds) waiting for {what}")


class Process:
    """One data directory served by `custos serve`, with an admin token."""

    def __init__(self, runner: Custos, config: dict):
        self.runner = runner
        self.server = Server(runner, config=config)
        self.admin_token = ""

    @property
    def running(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        """SIGKILL, by the PID this process holds."""
        self.server.stop(signal.SIGKILL)

    def call(self, method: str, path: str, body=None, token: str | None = None, **kwargs) -> requests.Response:
        return self.server.call(method, path, token or self.admin_token, body, **kwargs)

    def get(self, path: str, **params) -> dict | None:
        """The JSON of a GET, or None when the server does not answer 200."""
        try:
            r = self.call("GET", path, params=params or None)
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None

    def status(self) -> dict | None:
        return self.get("/v1/cluster/status") if self.running else None

    def audit(self, operation: str) -> list[dict]:
        r = self.call("GET", "/v1/audit", params={"operation": operation, "limit": 1000})
        assert r.status_code == 200, r.text[:300]
        return r.json()["records"]

    def token_file(self) -> Path:
        return self.runner.file(self.admin_token + "\n", ".token")


class ReplicaNode(Process):
    def __init__(self, runner: Custos, index: int, config: dict):
        super().__init__(runner, config)
        self.index = index
        self.node_token = ""
        self.peer_port = 0

    def replica(self) -> Replica:
        return Replica(self.server.url, self.node_token)

    def active_epochs(self) -> list[tuple[int, int]] | None:
        status = self.status()
        if not status:
            return None
        return [(k["active"]["generation"], k["active"]["epoch"]) for k in status["replicas"]]


class ClientNode(Process):
    def __init__(self, runner: Custos, client: int, config: dict):
        super().__init__(runner, config)
        self.client = client
        self.node_token = ""
        self.descriptor: Path = runner.workdir / f"client-{client}.descriptor.json"

    def sign(self, message: bytes) -> requests.Response:
        """The ledger's client side asking for a signature with the active signing key (node role)."""
        return self.call("POST", "/v1/cluster/client/sign", {"message": base64.b64encode(message).decode()}, token=self.node_token)


class Network:
    """N replicas and some client nodes, set up from genesis; nothing runs until started."""

    def __init__(self, binary: Path, root: Path, n: int = 4, clients: int = 2, interval: int = 4,
                 round_ms: int = 100, peer_timeout_ms: int = 2000):
        self.binary, self.root, self.n, self.interval = binary, root, n, interval
        config = {"cluster": {"round_interval_ms": round_ms, "peer_timeout_ms": peer_timeout_ms},
                  "server": {"request_timeout_seconds": 30}}
        self.operator = self._runner("operator")
        self.replicas = [ReplicaNode(self._runner(f"replica-{i}"), i, config) for i in range(n)]
        self.clients = [ClientNode(self._runner(f"client-{k}"), k, config) for k in range(clients)]
        self.bundles = root / "bundles"
        self.bundles.mkdir()
        passphrase = self.operator.file(BUNDLE_PASSPHRASE + "\n", ".pass")
        args = ["cluster", "genesis", "--checkpoint-interval", str(interval), "--out", self.bundles,
                "--bundle-passphrase-file", passphrase, "--bundle-scrypt-log-n", "10", "--json"]
        for node in self.replicas:
            node.peer_port = free_port()
            args += ["--replica", f"{node.index}=127.0.0.1:{node.peer_port}"]
        self.genesis = self.operator.run(*args).json()
        self.cluster_id = bytes.fromhex(self.genesis["cluster_id"])
        self.genesis_hash = self.genesis["genesis_hash"]
        self.configuration = self.bundles / "configuration.cbor"
        for node in self.replicas:
            node.runner.run("cluster", "join", "--bundle", self.bundles / f"replica-{node.index}.bundle.json",
                            "--bundle-passphrase-file", passphrase, "--genesis-hash", self.genesis_hash)
            node.node_token = node.server.token("node")
            node.admin_token = node.server.token("admin")
        for client in self.clients:
            client.runner.run("cluster", "client", "init", "--client-id", client.client, "--configuration", self.configuration,
                              "--genesis-hash", self.genesis_hash, "--out", client.descriptor)
            client.admin_token = client.server.token("admin")
            client.node_token = client.server.token("node")
        self.sequencer = Sequencer([node.replica() for node in self.replicas], interval)

    def _runner(self, name: str) -> Custos:
        runner = Custos(self.binary, self.root / name)
        runner.run("init", "--scrypt-log-n", SCRYPT_LOG_N)
        return runner

    # -- processes ----------------------------------------------------------------------

    def start_replica(self, index: int) -> None:
        node = self.replicas[index]
        node.start()
        self.sequencer.replicas[index].url = node.server.url  # a restart listens on a new HTTP port

    def start_replicas(self, indices=None) -> None:
        for index in (range(self.n) if indices is None else indices):
            self.start_replica(index)

    def stop(self) -> None:
        for process in [*self.clients, *self.replicas]:
            if process.server.proc is not None:
                process.server.stop(signal.SIGKILL)

    def tick(self) -> None:
        self.sequencer.tick()

    def live(self) -> list[ReplicaNode]:
        return [node for node in self.replicas if node.running]

    # -- states -------------------------------------------------------------------------

    def operational(self, indices=None, epoch_at_least: int = 1) -> bool:
        """Every listed replica operational, with every replica's active epoch ≥ the given one."""
        for index in (range(self.n) if indices is None else indices):
            status = self.replicas[index].status()
            if not status or status["phase"] != "operational" or status.get("latest_stable_boundary") is None:
                return False
            if any(k["active"]["epoch"] < epoch_at_least and k["active"]["generation"] == 0 for k in status["replicas"]):
                return False
        return True

    def wait_operational(self, deadline: float = DEADLINE) -> None:
        wait_for("every replica operational with epoch-1 keys active", self.operational, tick=self.tick, deadline=deadline)

    def via(self, index: int | None = None) -> ReplicaNode:
        """A running replica to talk to (the given one, or the first running)."""
        if index is not None:
            return self.replicas[index]
        return next(node for node in self.replicas if node.running)

    # -- the operator -------------------------------------------------------------------

    def command(self, action: str, *args, via: int | None = None, expect: int | None = 0):
        """`custos cluster command ACTION … --server URL --token-file F --json` on the operator's directory."""
        node = self.via(via)
        return self.operator.run("cluster", "command", action, *args, "--server", node.server.url,
                                 "--token-file", node.token_file(), "--json", expect=expect)

    def command_file(self, action: str, *args, out: Path | None = None, expect: int | None = 0):
        """Signs offline: the command file, not submitted."""
        out = out or self.root / f"command-{time.time_ns()}.json"
        result = self.operator.run("cluster", "command", action, *args, "--out", out, "--json", expect=expect)
        return out, result

    def submit(self, path: Path, via: int | None = None, expect: int | None = 0):
        node = self.via(via)
        return self.operator.run("cluster", "command", "submit", path, "--server", node.server.url,
                                 "--token-file", node.token_file(), "--json", expect=expect)

    def commands(self, via: int | None = None) -> dict[int, dict]:
        body = self.via(via).get("/v1/cluster/commands")
        return {c["number"]: c for c in body["commands"]} if body else {}

    def command_state(self, number: int, via: int | None = None) -> str | None:
        return self.commands(via).get(number, {}).get("state")

    def wait_command(self, number: int, states=("complete",), deadline: float = DEADLINE, via: int | None = None) -> dict:
        """Ticks the ledger until command `number` is in one of `states` at a replica."""
        try:
            return wait_for(f"command {number} {'/'.join(states)}",
                            lambda: (c := self.commands(via).get(number)) and c["state"] in states and c,
                            tick=self.tick, deadline=deadline)
        except AssertionError as error:
            statuses = [node.status() for node in self.replicas]
            keys = [s and [(k["newest_certified"]["epoch"], k["active"]["epoch"], k.get("pending_commands")) for k in s["replicas"]]
                    for s in statuses]
            raise AssertionError(f"{error}: {self.commands(via).get(number)}; replicas (newest, active, pending): {keys}; "
                                 f"clients: {[c.status() for c in self.clients]}") from None

    def clients_view(self, via: int | None = None) -> dict[int, dict]:
        body = self.via(via).get("/v1/cluster/clients")
        return {c["id"]: c for c in body["clients"]} if body else {}

    def add_clients(self) -> list[int]:
        """add-client for every client node; returns the command numbers, once executed."""
        numbers = []
        for client in self.clients:
            numbers.append(self.command("add-client", "--descriptor", client.descriptor).json()["number"])
        for number in numbers:
            self.wait_command(number)
        return numbers

    def export(self, via: int | None = None) -> bytes:
        body = self.via(via).get("/v1/cluster/log/export")
        assert body, "no log export"
        return base64.b64decode(body["log"])


class ShareLoad:
    """The ledger-node side asking every live, operational replica for consensus shares in a
    loop, on its own thread: one share per (sequence, phase) with a digest fixed by them (a
    repeated request is idempotent), at the sequence after the ledger's latest. Each answer is
    kept with the time the request left; every refusal is a failure, except those the
    specification prescribes (documented in `skipped`): a replica that is down, restarting or
    recovering is not asked, nor asked for a sequence at or below its restore floor."""

    def __init__(self, network: Network, pause: float = 0.02):
        self.network = network
        self.pause = pause
        self.shares: list[dict] = []      # {replica, view, sequence, phase, digest, signer, share, sent}
        self.failures: list[str] = []
        self.skipped = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.excluded: set[int] = set()   # replicas the test is about to kill or has killed
        self.lock = threading.Lock()

    def start(self) -> "ShareLoad":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def exclude(self, index: int) -> None:
        with self.lock:
            self.excluded.add(index)

    def include(self, index: int) -> None:
        with self.lock:
            self.excluded.discard(index)

    @staticmethod
    def digest(sequence: int, phase: str) -> str:
        return hashlib.sha256(f"block {sequence} {phase}".encode()).hexdigest()

    def _run(self) -> None:
        rounds = 0
        end = time.time() + 10 * DEADLINE
        while not self.stopping.is_set() and time.time() < end:
            rounds += 1
            phase = PHASES[rounds % len(PHASES)]
            asked = []
            for node in self.network.replicas:
                with self.lock:
                    if node.index in self.excluded:
                        continue
                if not node.running:
                    continue
                status = node.status()
                if not status or status["phase"] != "operational" or status.get("restore_floor") is None:
                    self.skipped += 1
                    continue
                asked.append((node, status["restore_floor"]))
            # Between two ledger steps, as a ledger asks for the slot it is about to commit: a
            # share for a sequence the ledger has passed would rightly be refused (pruned).
            with self.network.sequencer.lock:
                sequence = self.network.sequencer.sequence + 1
                for node, floor in asked:
                    if sequence <= floor:
                        self.skipped += 1
                        continue
                    self._ask(node, sequence, phase)
            time.sleep(self.pause)

    def _ask(self, node: "ReplicaNode", sequence: int, phase: str) -> None:
        body = {"view": 0, "sequence": sequence, "phase": phase, "digest": self.digest(sequence, phase)}
        sent = time.time()
        try:
            r = node.server.call("POST", "/v1/cluster/shares", node.node_token, body)
        except requests.RequestException as error:
            failure = f"replica {node.index} t={sequence}: {type(error).__name__}"
        else:
            if r.status_code == 200:
                self.shares.append({"replica": node.index, **body, **r.json(), "sent": sent})
                return
            failure = f"replica {node.index} t={sequence}: {r.status_code} {r.text[:200]}"
        with self.lock:
            if node.index not in self.excluded:
                self.failures.append(failure)


class LogWatcher:
    """A node informed: follows `GET /v1/cluster/log` as server-sent events on its own thread,
    parsed here from the SSE grammar (fields `id`, `event`, `data`; comments; blank line ends
    an event), and keeps each entry with the time it arrived. Ends when stopped or when the
    server ends the stream."""

    def __init__(self, node: Process, after: int = 0):
        self.node = node
        self.after = after
        self.events: list[tuple[float, dict]] = []   # (arrival time, entry JSON)
        self.ids: list[int] = []
        self.comments = 0
        self.error: str | None = None
        self.response: requests.Response | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "LogWatcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.response is not None:
            self.response.close()
        self.thread.join(timeout=10)

    def arrival(self, index: int) -> float | None:
        return next((t for t, e in self.events if e["index"] == index), None)

    def _run(self) -> None:
        try:
            self.response = requests.get(self.node.server.url + "/v1/cluster/log", params={"after": self.after}, stream=True,
                                         headers={"Authorization": f"Bearer {self.node.admin_token}", "Accept": "text/event-stream"},
                                         timeout=(10, 60))
            if self.response.status_code != 200 or not self.response.headers["content-type"].startswith("text/event-stream"):
                self.error = f"{self.response.status_code} {self.response.text[:200]}"
                return
            fields: dict[str, str] = {}
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=False):
                line = raw.decode()
                if line == "":
                    if fields.get("event") == "entry":
                        entry = json.loads(fields["data"])
                        assert int(fields["id"]) == entry["index"], fields
                        self.ids.append(entry["index"])
                        self.events.append((time.time(), entry))
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
        except (requests.RequestException, AttributeError, ValueError) as error:
            if self.error is None and not isinstance(error, AttributeError):
                self.error = type(error).__name__


class OperatorKeySigner:
    """The operator's real key (`cluster-operator` in the operator's data directory) signing
    whatever a test crafts, through `custos sign`: a hostile operator, or one making mistakes
    the command CLI would refuse to sign (expired, unknown targets, a number used twice)."""

    def __init__(self, operator: Custos, scheme: str = "ed25519"):
        self.operator = operator
        self.scheme = scheme

    def sign(self, message: bytes) -> bytes:
        args = ["sign", "--tenant", "cluster", "--key", "cluster-operator", "--message-hex", message.hex(), "--json"]
        if self.scheme != "ed25519":
            args += ["--signature-format", "raw"]
        return bytes.fromhex(self.operator.run(*args).json()["signature"])


def descriptor_file(path: Path, cluster: bytes, client: int, secret: "forge.ClientSecret") -> Path:
    """A client descriptor file as `custos cluster client init --out` writes it, for keys made here."""
    descriptor = v.encode(forge.client_descriptor(cluster, client, secret))
    path.write_text(json.dumps({"format": "custos-cluster-client-v1", "descriptor": base64.b64encode(descriptor).decode(),
                                "client": client}))
    return path


# -- the peer port, reached the way a replica, a client (or anyone else) would ------------

def certificate_files(directory: Path, name: str, key) -> tuple[Path, Path]:
    """A self-signed client certificate for a P-384 `key` (or its 48-byte secret scalar): only its
    key's pin matters to the listener."""
    if isinstance(key, bytes):
        key = ec.derive_private_key(int.from_bytes(key, "big"), ec.SECP384R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA384()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_context(identity: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the replica's certificate is self-signed; its pin is not what is tested here
    if identity:
        context.load_cert_chain(*map(str, identity))
    return context


def peer_post(port: int, body: bytes, identity: tuple[Path, Path] | None, timeout: float = 10) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(identity), timeout=timeout)
    try:
        connection.request("POST", "/v1/cluster/peer", body=body, headers={"Content-Type": "application/cbor"})
        response = connection.getresponse()
        return response.status, response.read(8 * 1024 * 1024)
    finally:
        connection.close()
