"""The replica-network demo (scripts/cluster-demo.sh): four replicas (CLUSTER_N) from bundles to operational,
then every replica's keys rotated by an operator command.

Every process it starts is stopped by its PID at the end; everything is on 127.0.0.1; every
wait is bounded. The sequencer is the interop suite's stub (interop/cluster_sequencer.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))
from cluster_sequencer import Replica, Sequencer  # noqa: E402

import requests  # noqa: E402

# CLUSTER_N replicas (default 4; f = ⌊(N−1)/3⌋), checkpoint interval W.
N, W = int(os.environ.get("CLUSTER_N", "4")), 4
BIN = sys.argv[1]
WORK = Path(tempfile.mkdtemp(prefix="custos-cluster-demo."))
PROCESSES: list[subprocess.Popen] = []


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def custos(data: Path, *args, show: bool = True, env: dict | None = None) -> str:
    if show:
        print(f"$ custos {' '.join(str(a) for a in args)}    # in {data.name}", flush=True)
    environment = {**os.environ, "CUSTOS_DATA_DIR": str(data / "data"), "CUSTOS_PASSPHRASE": f"demo passphrase of {data.name}",
                   "HOME": str(data)}
    environment.update(env or {})
    result = subprocess.run([BIN, *map(str, args)], env=environment, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"custos {' '.join(map(str, args))} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data: Path) -> str:
    config = data / "server.json"
    config.write_text(json.dumps({"server": {"host": "127.0.0.1", "port": 0}, "cluster": {"round_interval_ms": 100}}))
    env = {**os.environ, "CUSTOS_DATA_DIR": str(data / "data"), "CUSTOS_PASSPHRASE": f"demo passphrase of {data.name}", "HOME": str(data)}
    process = subprocess.Popen([BIN, "serve", "--config", str(config)], env=env, stdout=subprocess.PIPE,
                               stderr=open(data / "server.log", "wb"), stdin=subprocess.DEVNULL)
    PROCESSES.append(process)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stdout.readline().decode()
        match = re.search(r"listening on (https?://[\d.]+:\d+)", line)
        if match:
            return match.group(1)
        if not line:
            break
    raise SystemExit(f"custos serve in {data.name} did not start: {(data / 'server.log').read_text()[-1000:]}")


def main() -> None:
    step(f"1. An operator and {N} replica data directories")
    operator = WORK / "operator"
    replicas = [WORK / f"replica-{i}" for i in range(N)]
    for data in [operator, *replicas]:
        data.mkdir()
        custos(data, "init", "--scrypt-log-n", "12", show=data == operator)
    print(f"(and the same for replica-0 … replica-{N - 1})")

    step("2. Each replica enrols: an X25519 key its bundle will be sealed to")
    enrolment = [custos(data, "cluster", "enrol").strip() for data in replicas]

    step("3. Genesis on the operator's directory: configuration signed, one sealed bundle per replica")
    bundles = WORK / "bundles"
    bundles.mkdir()
    args = ["cluster", "genesis", "--checkpoint-interval", W, "--out", bundles]
    for i in range(N):
        args += ["--replica", f"{i}=127.0.0.1:{free_port()},enrolment={enrolment[i]}"]
    announced = custos(operator, *args).strip()
    print(announced)
    genesis_hash = re.search(r"genesis hash ([0-9a-f]{64})", announced).group(1)

    step(f"4. Each of the {N} replicas joins with its bundle, pinned to the genesis hash the operator announced; a token for its ledger node")
    tokens = []
    for i, data in enumerate(replicas):
        print(custos(data, "cluster", "join", "--bundle", bundles / f"replica-{i}.bundle.json",
                     "--genesis-hash", genesis_hash).strip())
        tokens.append(json.loads(custos(data, "token", "create", "--role", "node", "--ttl", "1h", "--json", show=False))["bearer"])

    step(f"5. {N} × `custos serve`: the API on a free port, the peer listener (mutual TLS, pinned) on the configured one")
    started = time.monotonic()
    urls = [serve(data) for data in replicas]
    for i, url in enumerate(urls):
        print(f"replica {i}: API {url}")

    step("6. The stub sequencer orders certified records and hands in checkpoint notices every W = 4")
    sequencer = Sequencer([Replica(url, token) for url, token in zip(urls, tokens)], W)

    def statuses():
        out = []
        for url, token in zip(urls, tokens):
            r = requests.get(url + "/v1/cluster/status", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            out.append(r.json() if r.status_code == 200 else None)
        return out

    deadline, shown = time.time() + 180, None
    while time.time() < deadline:
        sequencer.tick()
        current = statuses()
        summary = [(s["phase"], [k["active"]["epoch"] for k in s["replicas"]], s.get("latest_stable_boundary")) if s else None for s in current]
        if summary != shown:
            print(f"ledger at {sequencer.sequence:3}: " + "; ".join(
                f"r{i} {p} active epochs {e} stable {b}" for i, (p, e, b) in enumerate(x for x in summary if x)), flush=True)
            shown = summary
        # Old keys go once a stable checkpoint reaches the activation boundary A + W (docs/cluster.md).
        last = max(sequencer.scheduled.values(), default=0)
        activation = W * -(-last // W) + W
        if all(s and s["phase"] == "operational" and all(k["active"]["epoch"] == 1 for k in s["replicas"])
               and (s.get("latest_stable_boundary") or 0) >= activation for s in current) and last:
            break
        time.sleep(0.1)
    else:
        raise SystemExit("the network did not become operational within 180 s")

    elapsed = time.monotonic() - started
    step(f"7. Operational: every replica's epoch-1 keys active, the same key log everywhere "
         f"({elapsed:.2f} s from starting the servers, ledger at {sequencer.sequence})")
    heads = {s["log_head"] for s in statuses()}
    print(f"key-log heads: {heads}")
    assert len(heads) == 1

    step("8. The operator signs a command offline (rotate every replica's keys) and submits it to replica 0")
    command_file = WORK / "rotate-all.command.json"
    custos(operator, "cluster", "command", "rotate-replica-keys", "--replicas", "all", "--out", command_file)
    token_file = WORK / "replica-0.token"
    token_file.write_text(tokens[0])
    print(custos(operator, "cluster", "command", "submit", command_file, "--server", urls[0], "--token-file", token_file).strip())
    started = time.monotonic()
    deadline, shown = time.time() + 180, None
    while time.time() < deadline:
        sequencer.tick()
        current = statuses()
        summary = [([k["active"]["epoch"] for k in s["replicas"]], [c["state"] for c in s.get("commands", [])]) if s else None for s in current]
        if summary != shown:
            print(f"ledger at {sequencer.sequence:3}: " + "; ".join(
                f"r{i} active epochs {e} command {c}" for i, (e, c) in enumerate(x for x in summary if x)), flush=True)
            shown = summary
        if all(s and all(k["active"]["epoch"] == 2 for k in s["replicas"])
               and any(c["state"] == "complete" for c in s.get("commands", [])) for s in current):
            break
        time.sleep(0.1)
    else:
        raise SystemExit("the rotation did not complete within 180 s")
    print(f"every replica on its epoch-2 keys, the command complete: {time.monotonic() - started:.2f} s after submitting")
    # Old keys go once a stable checkpoint reaches the new keys' activation boundary.
    last = max(sequencer.scheduled.values(), default=0)
    activation = W * -(-last // W) + W
    while time.time() < deadline and not all(s and (s.get("latest_stable_boundary") or 0) >= activation for s in statuses()):
        sequencer.tick()
        time.sleep(0.1)

    step("9. Stable checkpoints past each activation boundary: bootstrap and epoch-1 keys destroyed (servers stopped to list them)")
    for process in PROCESSES:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    PROCESSES.clear()
    listing = json.loads(custos(replicas[0], "key", "list", "--tenant", "cluster", "--json"))
    for key in listing["keys"]:
        print(f"  {key['alias']:32} {key['status']}")

    step("10. The key log, exported and verified offline from the genesis configuration")
    export = WORK / "log.cbor"
    custos(replicas[2], "cluster", "log", "export", "--out", export)
    print(custos(replicas[2], "cluster", "log", "verify", export).strip())
    print(custos(replicas[2], "cluster", "log").strip())


if __name__ == "__main__":
    try:
        main()
    finally:
        for process in PROCESSES:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        shutil.rmtree(WORK, ignore_errors=True)
