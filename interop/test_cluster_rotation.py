"""Every replica key and every client key rotated on loopback, under load, with a replica killed.

Four `custos serve` replicas and two client nodes (their own data directories and servers),
over pinned mutual TLS. The operator (the CLI in its own data directory) adds both clients,
then orders `rotate-replica-keys --replicas all` and `rotate-client-keys --clients all`, while
the ledger-node side keeps asking every operational replica for consensus shares and the stub
sequencer keeps handing checkpoint notices (each answered with a checkpoint signature). One
replica is killed with SIGKILL once the rotation is under way and restarted later.

At the end: no share request to a running, operational replica failed; every replica is on
new keys and every client on epoch 1, active; the previous private keys are destroyed; the
exported log verifies with the independent verifier (cluster_verify.py); every share and every
checkpoint signature collected verifies (blst) under the key keyset(t) / keyset(B) of that
verifier names, and none was asked of a key after its `cluster.keys-destroyed` record; and a
client's signatures before and after verify under its epoch-0 and epoch-1 signing keys.
"""
from __future__ import annotations

import base64
import json
import re
import time

import pytest

import cluster_verify as v
from cluster_nodes import DEADLINE, LogWatcher, Network, ShareLoad, wait_for

N = 4
W = 4


KEY_NAME = re.compile(r"\((\d+), g(\d+), e(\d+)\)")


def destroyed_keys(node) -> dict[tuple[int, int, int], float]:
    """(r, g, e) -> when its private keys were destroyed (µs resolution), from a replica's audit log."""
    found = {}
    for row in node.server.audit_rows():
        if row["operation"] == "cluster.keys-destroyed" and row["outcome"] == "success":
            match = KEY_NAME.search(json.loads(row["details"]).get("subject", ""))
            if match:
                found[tuple(map(int, match.groups()))] = row["time_us"] / 1e6
    return found


def shares_after_destruction(node) -> list[str]:
    """Consensus-share records, in the replica's audit log, that come after the destruction of
    the key they name."""
    destroyed, late = set(), []
    for row in node.server.audit_rows():
        details = json.loads(row["details"]) if row.get("details") else {}
        if row["operation"] == "cluster.keys-destroyed":
            match = KEY_NAME.search(details.get("subject", ""))
            if match:
                destroyed.add(tuple(map(int, match.groups())))
        elif details.get("event") == "cluster.consensus-share":
            match = KEY_NAME.search(details.get("detail", ""))
            if match and tuple(map(int, match.groups())) in destroyed:
                late.append(f"{details['subject']} by {match.group(0)}")
    return late


@pytest.fixture
def network(custos_bin, tmp_path):
    net = Network(custos_bin, tmp_path, n=N, clients=2, interval=W)
    yield net
    net.stop()


def test_rotate_all_replica_and_client_keys_under_load_with_a_replica_killed_midway(network):
    net = network
    started = time.time()
    net.start_replicas()
    net.wait_operational()
    net.add_clients()
    for client in net.clients:
        client.start()
    wait_for("both clients following, epoch 0 active",
             lambda: all((s := c.status()) and s.get("active_epoch") == 0 for c in net.clients), tick=net.tick)
    before = [(client, client.sign(b"before the rotation")) for client in net.clients]
    for client, answer in before:
        assert answer.status_code == 200 and answer.json()["epoch"] == 0, answer.text[:300]

    load = ShareLoad(net).start()
    # A node informed: replica 1's log as server-sent events, from the entry after the present.
    watcher = LogWatcher(net.replicas[1], after=net.replicas[1].status()["log_length"]).start()
    watched_from = time.time()
    try:
        replicas_command = net.command("rotate-replica-keys", "--replicas", "all").json()
        clients_command = net.command("rotate-client-keys", "--clients", "all").json()
        assert replicas_command["action"] == "rotate-replica-keys" and clients_command["action"] == "rotate-client-keys"
        rotate_replicas, rotate_clients = replicas_command["number"], clients_command["number"]
        assert rotate_clients > rotate_replicas

        # Mid-rotation: once the command is in the log, the ledger pauses (no tick) until replica 2
        # holds its epoch-2 candidate, which cannot be scheduled meanwhile; it is killed there,
        # and the three others (a quorum) go on.
        net.wait_command(rotate_replicas, states=("executed", "complete"))
        victim = net.replicas[2]
        wait_for("replica 2's candidate for epoch 2",
                 lambda: (s := victim.status()) and (s.get("pending_candidate") or {}).get("epoch") == 2)
        load.exclude(2)
        victim.kill()
        for _ in range(3 * W):
            net.tick()
            time.sleep(0.05)
        net.start_replica(2)
        wait_for("replica 2 operational again", lambda: (s := victim.status()) and s["phase"] == "operational", tick=net.tick)
        load.include(2)

        net.wait_command(rotate_replicas)
        net.wait_command(rotate_clients)

        def rotated() -> bool:
            statuses = [node.status() for node in net.replicas]
            return all(s and all(k["active"]["epoch"] == 2 for k in s["replicas"]) for s in statuses) and all(
                (s := c.status()) and s.get("active_epoch") == 1 for c in net.clients)

        wait_for("every replica and client on its new keys, active", rotated, tick=net.tick)

        def old_keys_destroyed() -> bool:
            return all({(node.index, 0, 1)} <= set(destroyed_keys(node)) for node in net.replicas)

        wait_for("every replica's epoch-1 keys destroyed", old_keys_destroyed, tick=net.tick)
        # More load after the hand-over, on the new keys.
        end_sequence = net.sequencer.sequence + 2 * W
        wait_for("load past the hand-over", lambda: net.sequencer.sequence >= end_sequence, tick=net.tick)
    finally:
        load.stop()
        watcher.stop()

    assert load.failures == [], load.failures[:20]
    assert len(load.shares) >= 50, f"only {len(load.shares)} shares under load"
    assert net.sequencer.refusals == [], net.sequencer.refusals

    # The log, recomputed independently from genesis, and the same head everywhere.
    export = net.export(0)
    log = v.verify_export(export)
    heads = {node.status()["log_head"] for node in net.replicas}
    assert heads == {log.head.hex()} or len(heads) == 1, heads
    assert {c.command.number for c in log.executed} >= {rotate_replicas, rotate_clients}
    assert log.command_progress(rotate_replicas)["complete"] and log.command_progress(rotate_clients)["complete"]
    assert all(log.newest(r).epoch == 2 for r in range(N))
    assert sorted(log.registered_clients()) == [0, 1] and all(log.newest_client(k).epoch == 1 for k in (0, 1))

    # Informed within a second: every entry scheduled while it watched reached the watcher, in
    # order, less than a second after the ledger handed replica 1 its schedule notice; the
    # stream stayed quiet in between (a keep-alive comment every 15 s, not a busy loop).
    assert watcher.error is None, watcher.error
    first = watcher.after
    assert watcher.ids == list(range(first, first + len(watcher.ids))) and len(watcher.ids) >= 6, watcher.ids
    for arrived, entry in watcher.events:
        sent = net.sequencer.delivered[(1, entry["sequence"])]
        assert arrived - sent < 1.0, (entry, arrived - sent)
    assert watcher.comments <= (time.time() - watched_from) / 15 + 2, f"{watcher.comments} keep-alive comments"

    # Every share under the key keyset(t) names, verified in blst; none asked of a destroyed key.
    destroyed = {}
    for node in net.replicas:
        destroyed.update(destroyed_keys(node))
    assert (2, 0, 1) in destroyed, "the killed replica's old keys were not destroyed"
    by_key = {}
    for share in load.shares:
        keys = log.keyset(share["sequence"])[share["replica"]]
        signer = share["signer"]
        assert (signer["replica"], signer["generation"], signer["epoch"]) == (share["replica"], keys.generation, keys.epoch), share
        msg = v.message(v.TAG_CONSENSUS, log.cluster, [0, share["sequence"], ("pre-prepare", "prepare", "commit").index(share["phase"]),
                                                      bytes.fromhex(share["digest"])])
        assert v.bls_verify([keys.consensus], msg, base64.b64decode(share["share"]), v.DST_CONSENSUS), share
        name = (share["replica"], keys.generation, keys.epoch)
        assert name not in destroyed or share["sent"] < destroyed[name], f"a share asked of {name} after its destruction"
        by_key[name] = by_key.get(name, 0) + 1
    # Exactly, in each replica's own audit log (one sequence for all its records): no consensus
    # share under a key name after that name's keys-destroyed record.
    for node in net.replicas:
        assert shares_after_destruction(node) == [], node.index

    # The load spanned the hand-over: shares under epoch-1 and epoch-2 keys of every replica.
    assert all(by_key.get((r, 0, e)) for r in range(N) for e in (1, 2)), by_key

    # Every checkpoint signature under the main key of keyset(B).
    assert net.sequencer.signatures
    for index, signature, received in net.sequencer.signatures:
        b = signature["boundary"]
        keys = log.keyset(b)[index]
        signer = signature["signer"]
        assert (signer["generation"], signer["epoch"]) == (keys.generation, keys.epoch), signature
        statement = [b, bytes.fromhex(signature["ledger_digest"]), signature["log_length"], bytes.fromhex(signature["log_head"])]
        assert v.ed25519_valid(keys.main, v.message(v.TAG_CHECKPOINT, log.cluster, statement),
                               base64.b64decode(signature["signature"])), signature

    # The clients: signatures before and after, under the keys of the log.
    for client, answer in before:
        body = answer.json()
        key = log.clients[client.client].history[0][1]
        assert v.client_signature_valid(key.scheme, key.signing_key, b"before the rotation", base64.b64decode(body["signature"]))
        after = client.sign(b"after the rotation")
        assert after.status_code == 200 and after.json()["epoch"] == 1, after.text[:300]
        new = log.newest_client(client.client)
        assert v.client_signature_valid(new.scheme, new.signing_key, b"after the rotation", base64.b64decode(after.json()["signature"]))
        assert not v.client_signature_valid(key.scheme, key.signing_key, b"after the rotation", base64.b64decode(after.json()["signature"]))
    assert time.time() - started < 3 * DEADLINE
