"""Operator commands attacked from outside, on four real replicas over loopback.

A hostile operator (commands crafted in Python by cluster_forge.py, some signed by the real
operator key through `custos sign`, some by keys of its own or of another cluster's operator)
and a hostile client node (registered with keys made here, so that it can speak on the peer
port with its own TLS key) try what issue 15 lists: a command not signed by the operator key,
signed by another cluster's operator, a replayed number, expired, unknown targets, altered after
signing, two different commands under one number, a client publishing keys for another client,
a rotation while fewer than N − f replicas are up, a checkpoint signature asked by a
non-replica, and malformed, control-character and oversized bodies on the new routes. Each gets
a clear refusal and an audit record, and changes nothing: the key log, the commands and the
registered clients are the same before and after.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time

import pytest
import requests

import cluster_forge as forge
import cluster_verify as v
import metrics_doc
from cluster_nodes import Network, OperatorKeySigner, certificate_files, descriptor_file, peer_post, wait_for

N = 4
W = 4
HOSTILE = 5  # the hostile client's id (clients 0 and 1 are the network's own client directories)


def cluster_audit(node, operation: str) -> list[dict]:
    named = node.audit(operation)
    return named or [r for r in node.audit("cluster.event") if r["details"].get("event") == operation]


@pytest.fixture(scope="module")
def net(custos_bin, tmp_path_factory):
    network = Network(custos_bin, tmp_path_factory.mktemp("commands"), n=N, clients=2, interval=W)
    try:
        network.start_replicas()
        network.wait_operational()
        network.signer = OperatorKeySigner(network.operator)
        # The hostile client: keys made here, registered by the operator like any client.
        network.hostile = forge.ClientSecret("hostile client")
        path = descriptor_file(network.root / "hostile.json", network.cluster_id, HOSTILE, network.hostile)
        number = network.command("add-client", "--descriptor", path).json()["number"]
        network.wait_command(number)
        network.hostile_certificate = certificate_files(network.root, "hostile-client", network.hostile.tls)
        yield network
    finally:
        network.stop()


def snapshot(net: Network) -> tuple:
    """What an attack must not change: every replica's log, the commands and the clients."""
    for _ in range(2 * W):
        net.tick()
    logs = tuple((s["log_length"], s["log_head"]) for s in (node.status() for node in net.live()))
    commands = {c: (d["state"], d["digest"]) for c, d in net.commands().items()}
    return logs, commands, net.clients_view()


def crafted(net: Network, number: int, action: list, *, expires_in: int = 3600, cluster: bytes | None = None, signer=None) -> bytes:
    cluster = cluster or net.cluster_id
    body = forge.command_body(cluster, number, int(time.time()) + expires_in, action)
    return forge.sign_command(cluster, body, signer or net.signer)


def post_command(net: Network, command: bytes, via: int = 0) -> requests.Response:
    return net.replicas[via].call("POST", "/v1/cluster/commands", {"command": base64.b64encode(command).decode()})


def next_number(net: Network) -> int:
    return max(net.commands(), default=0) + 1


def refused(net: Network, command: bytes, *words: str, via: int = 0) -> dict:
    """POST a command that must be refused: 422 naming the problem, audited as refused, nothing changed."""
    before = snapshot(net)
    audits = len([r for r in cluster_audit(net.replicas[via], "cluster.command") if r["outcome"] == "failure"])
    r = post_command(net, command, via)
    assert r.status_code == 422, r.text[:500]
    problem = r.json()
    assert problem["status"] == 422 and all(w in problem["detail"] for w in words), problem
    after_audits = [x for x in cluster_audit(net.replicas[via], "cluster.command") if x["outcome"] == "failure"]
    assert len(after_audits) > audits, after_audits[-3:]
    assert snapshot(net) == before
    return problem


def test_commands_not_under_this_clusters_operator_key_are_refused(net):
    c = next_number(net)
    # A key of the attacker's own.
    refused(net, crafted(net, c, forge.rotate_replica_keys(None, 7), signer=forge.Operator("attacker")), "operator")
    # Signed by the real key for another cluster: the cluster id is checked first.
    refused(net, crafted(net, c, forge.rotate_replica_keys(None, 7), cluster=bytes(16)), "cluster")
    # Another cluster's operator, through its own CLI: a second genesis, a command file, submitted here.
    other_operator = net._runner("other-operator")
    (net.root / "other-bundles").mkdir()
    passphrase = other_operator.file("other-cluster-passphrase\n", ".pass")
    other_operator.run("cluster", "genesis", "--checkpoint-interval", "4", "--out", net.root / "other-bundles",
                       "--bundle-passphrase-file", passphrase, "--bundle-scrypt-log-n", "10", "--replica", "0=127.0.0.1:1")
    path = net.root / "other-command.json"
    other_operator.run("cluster", "command", "rotate-replica-keys", "--replicas", "all", "--number", c, "--out", path)
    before = snapshot(net)
    result = net.submit(path, expect=None)
    assert result.code != 0 and "cluster" in (result.err + result.out), result
    assert snapshot(net) == before


def test_altered_after_signing_is_refused_and_show_says_so(net):
    c = next_number(net)
    path, _ = net.command_file("rotate-replica-keys", "--replicas", "1", "--number", c)
    document = json.loads(path.read_text())
    signed = base64.b64decode(document["command"])
    body, signature = v.canonical(signed)
    decoded = v.canonical(body)
    decoded[4] = forge.rotate_replica_keys([1, 2], decoded[4][2])  # one more target
    altered = v.encode([v.encode(decoded), signature])
    refused(net, altered, "operator")
    document["command"] = base64.b64encode(altered).decode()
    path.write_text(json.dumps(document))
    assert net.operator.run("cluster", "command", "show", path, expect=None).code != 0


def test_expired_too_far_and_unknown_targets_are_refused(net):
    c = next_number(net)
    refused(net, crafted(net, c, forge.rotate_replica_keys(None, 7), expires_in=-121 - 60), "expired")
    refused(net, crafted(net, c, forge.rotate_replica_keys(None, 7), expires_in=32 * 86400))
    refused(net, crafted(net, c, forge.rotate_replica_keys([1, N], 7)), "target")
    refused(net, crafted(net, c, forge.rotate_client_keys([HOSTILE + 1], 1)), "target")
    refused(net, crafted(net, c, forge.remove_client(HOSTILE + 1)), "target")
    refused(net, crafted(net, c, forge.add_client(forge.client_descriptor(net.cluster_id, HOSTILE, forge.ClientSecret("again")))))
    # The CLI itself refuses what it can see is wrong, and signs nothing.
    for args in (["rotate-replica-keys", "--replicas", str(N)], ["rotate-replica-keys", "--replicas", "all", "--kinds", "tls,\x07"],
                 ["rotate-client-keys", "--clients", "all", "--kinds", "consensus"], ["rotate-replica-keys", "--replicas", "2,1,1"]):
        error = net.operator.run("cluster", "command", *args, "--out", net.root / "never.json", expect=2).err
        assert "\x07" not in error
        assert not (net.root / "never.json").exists()


def test_a_replayed_number_is_refused(net):
    c = next_number(net)
    path, _ = net.command_file("rotate-replica-keys", "--replicas", "0", "--kinds", "tls", "--number", c)
    assert net.submit(path).json()["number"] == c
    net.wait_command(c, states=("executed", "complete"))
    net.wait_command(c)
    # The same file again is answered with where the command stands, and changes nothing.
    before = snapshot(net)
    again = net.submit(path).json()
    state = again.get("submitted", again)
    assert state["number"] == c and state["state"] == "complete", again
    assert snapshot(net) == before
    # Another command under the executed number, validly signed: refused, naming the number.
    refused(net, crafted(net, c, forge.rotate_replica_keys([3], 4)), str(c))


def test_two_commands_under_one_number_certify_at_most_one_and_the_number_is_reported_contested(net):
    """With replica 3 down, the three others (exactly Q) are asked to approve two commands
    numbered c at once: at most one can be certified (all three must approve it), and the relay
    of the other reports c contested. Replica 3 back, at most one of the two is executed; the
    operator reissues under a new number."""
    c = next_number(net)
    first = crafted(net, c, forge.rotate_replica_keys([0], 4))
    second = crafted(net, c, forge.rotate_replica_keys([1], 4))
    digests = {hashlib.sha256(first).hexdigest(): "first", hashlib.sha256(second).hexdigest(): "second"}
    net.replicas[3].kill()
    answers = {}

    def submit(name, command, via):
        answers[name] = post_command(net, command, via)

    threads = [threading.Thread(target=submit, args=("first", first, 0)), threading.Thread(target=submit, args=("second", second, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a.status_code in (202, 422) for a in answers.values()), {k: a.text[:200] for k, a in answers.items()}

    def states() -> list:
        return [net.commands(via).get(c, {}).get("state") for via in (0, 1)]

    # The loser (or both, when replica 2 split them) is reported contested by its relay.
    try:
        wait_for("command number c reported contested", lambda: "contested" in states(), tick=net.tick, deadline=30)
    except AssertionError as error:
        raise AssertionError(f"{error}: {[net.commands(via).get(c) for via in (0, 1, 2)]}, "
                             f"{ {k: a.text[:300] for k, a in answers.items()} }") from None
    assert sum(state in ("certified", "executed", "complete") for state in states()) <= 1, states()
    audited = [r for node in net.replicas[:3] for r in cluster_audit(node, "cluster.command-contested")]
    assert audited, "no cluster.command-contested record"
    # The relay's metrics say so (what the CustosClusterCommandContested alert reads), and a
    # replica exposes exactly the families docs/monitoring.md lists for it.
    relay = next(via for via in (0, 1) if net.commands(via).get(c, {}).get("state") == "contested")

    def scrape() -> str:
        return net.replicas[relay].call("GET", "/metrics").text

    wait_for("custos_cluster_commands{state=contested} on the relay",
             lambda: metrics_doc.samples(scrape()).get('custos_cluster_commands{state="contested"}', 0) >= 1, tick=net.tick, deadline=30)
    text = scrape()
    sections = metrics_doc.documented()
    replica_families = sections["Every server"] | sections["Replica network"]
    exposed = set(metrics_doc.families(text))
    assert exposed - replica_families == set(), f"exposed but not in docs/monitoring.md: {sorted(exposed - replica_families)}"
    assert sections["Replica network"] - exposed == set(), f"documented but not exposed: {sorted(sections['Replica network'] - exposed)}"
    assert metrics_doc.samples(text)['custos_cluster_replica_phase{phase="operational"}'] == 1

    net.start_replica(3)
    wait_for("replica 3 operational", lambda: net.operational([3]), tick=net.tick)
    for _ in range(6 * W):
        net.tick()
        time.sleep(0.05)
    # At most one command numbered c in the log, and it is one of the two.
    log = v.verify_export(net.export(0))
    executed = [digests[i.command.digest.hex()] for i in log.executed if i.command.number == c]
    assert len(executed) <= 1, executed
    # Reissued under a new number, it executes.
    reissued = net.command("rotate-replica-keys", "--replicas", "1", "--kinds", "tls", "--number", c + 1).json()
    assert reissued["number"] == c + 1
    net.wait_command(c + 1)


def test_a_hostile_client_cannot_publish_keys_for_another_or_speak_for_a_replica(net):
    port = net.replicas[0].peer_port
    certificate = net.hostile_certificate
    # It may read the log (request 9) like any client.
    answer = peer_post(port, v.encode([9, 0, 10, 0]), certificate)
    assert answer[0] == 200 and isinstance(v.canonical(answer[1]), list), answer
    before = snapshot(net)
    # A record for client 0 (which the network registered), signed by the hostile client's keys.
    record = forge.client_record(net.cluster_id, 0, 1, forge.ClientSecret("stolen"), net.hostile)
    answer = peer_post(port, v.encode([8, record]), certificate)
    assert answer[0] == 422 and b"client" in answer[1], answer
    # Replica-only requests: approve a (well-formed) replica record, a command, a client record;
    # a checkpoint signature.
    replica_record = forge.replica_record(net.cluster_id, 0, 0, 1, forge.ReplicaSecret("posing"), forge.ReplicaSecret("posing 0"))
    for request in ([1, [replica_record, None]], [6, crafted(net, 99, forge.rotate_replica_keys(None, 1))], [7, record], [4, W]):
        answer = peer_post(port, v.encode(request), certificate)
        assert answer[0] == 422 and b"replica" in answer[1].lower(), (request[0], answer)
    # Malformed, truncated, oversized and deeply nested bodies.
    for body in (b"\xff", v.encode([8])[:-1] + b"\x18", v.encode([8, b"\x00" * 70000]), b"\x81" * 40 + b"\x00"):
        answer = peer_post(port, body, certificate)
        assert answer[0] in (413, 422), answer
    assert snapshot(net) == before
    refusals = [r for r in cluster_audit(net.replicas[0], "cluster.peer") if r["outcome"] == "failure"]
    assert refusals, "no refused peer request audited"


def test_bad_bodies_on_the_new_routes_are_refused_plainly(net):
    node = net.replicas[0]
    before = snapshot(net)
    for body, status in ((b"{", 400), (b'{"command": 5}', 400), (b'{"command": "not base64 \\u0007"}', 422),
                         (json.dumps({"command": base64.b64encode(b"\x82\x40").decode()}).encode(), 422),
                         (json.dumps({"command": base64.b64encode(b"\x00" * 5000).decode()}).encode(), 422)):
        r = node.call("POST", "/v1/cluster/commands", raw=body)
        assert r.status_code in (status, 400, 413, 422), (body[:40], r.status_code, r.text[:300])
        assert "\x07" not in r.text and "\\u0007" not in r.text
    r = node.call("POST", "/v1/cluster/commands", raw=b'{"command": "' + b"A" * (2 << 20) + b'"}')
    assert r.status_code in (413, 422), r.status_code
    for params in ({"after": "x"}, {"after": 0, "wait_ms": 10 ** 9}, {"after": -1}, {"limit": "\x07"}):
        r = node.call("GET", "/v1/cluster/log", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text[:200])
    # Without a token, or with a read-only one: refused.
    assert requests.post(node.server.url + "/v1/cluster/commands", json={"command": ""}, timeout=10).status_code == 401
    assert snapshot(net) == before


def test_a_rotation_with_fewer_than_n_minus_f_replicas_up_waits_then_completes(net):
    before = snapshot(net)
    down = [net.replicas[2], net.replicas[3]]
    for node in down:
        node.kill()
    c = next_number(net)
    result = net.command("rotate-replica-keys", "--replicas", "0,1", "--kinds", "main", "--number", c, via=0).json()
    answer = result.get("submitted", result)
    assert answer["state"] == "relaying" and answer["approvals"] < answer["quorum"] == N - (N - 1) // 3, answer
    for _ in range(4 * W):
        net.tick()
        time.sleep(0.1)
    # Waiting, not broken: not certified, nothing scheduled, the two live replicas unchanged.
    assert net.command_state(c) == "relaying"
    live_logs, _, _ = snapshot(net)
    assert live_logs == before[0][:2], (live_logs, before[0])
    for node in down:
        net.start_replica(node.index)
    net.wait_command(c, deadline=150)
    wait_for("every replica operational", lambda: net.operational(), tick=net.tick)
