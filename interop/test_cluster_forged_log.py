"""A key log built outside Custos, with every void reason of docs/cluster.md, decided twice.

cluster_forge.py builds a configuration, replica and client records, client descriptors and
operator commands of every action (some hostile: another cluster's operator, an old operator
key after its rotation, replayed numbers, altered bytes, foreign pins, certificates below
quorum or over another message), and the independent verifier (cluster_verify.py) decides
each entry. `custos cluster log verify` then replays the export from genesis: it accepts it
only if it decides every entry the same way (status and reason, byte for byte) and computes
the same chain head, so this is Custos's key log checked entry by entry against a second
implementation written from the specification.
"""
from __future__ import annotations

import random
import re

import pytest

import cluster_forge as forge
import cluster_verify as v
from cluster_forge import ClientSecret, LogBuilder, Operator, ReplicaSecret
from custos_cli import Custos

REPLICA, CLIENT, COMMAND = v.KIND_REPLICA_RECORD, v.KIND_CLIENT_RECORD, v.KIND_COMMAND
CONSENSUS, MAIN, TLS = 1, 2, 4
SIGNING, CLIENT_TLS, API_TLS = 1, 2, 4


def build_log() -> tuple[LogBuilder, list[tuple[str, str]], dict]:
    """The scenario: (builder, [(what, expected reason)], facts for the assertions)."""
    log = LogBuilder(n=4, interval=2)
    cluster, secrets = log.cluster, log.secrets
    expected: list[tuple[str, str]] = []
    facts: dict = {}

    def entry(what: str, reason: str, kind: int, item: bytes, certificate: bytes | None = None) -> None:
        expected.append((what, reason))
        got = log.append(kind, item, certificate)
        assert got == reason, f"{what}: the builder decided {got!r}, the scenario expects {reason!r}"

    def rotate(r: int, g: int, e: int, command: int = 0, **keys) -> tuple[bytes, ReplicaSecret]:
        """A record for (r, g, e) and the key name's effective secrets (carried kinds included)."""
        new = ReplicaSecret(f"forged {r} {g} {e}" + keys.pop("label", ""))
        record = forge.replica_record(cluster, r, g, e, new, secrets[(r, g, e - 1)], command, **keys)
        return record, new.carrying(keys.get("consensus"), keys.get("main"), keys.get("pin"))

    def accept_replica(what: str, record: bytes, new: ReplicaSecret, r: int, g: int, e: int) -> None:
        entry(what, "", REPLICA, record)
        secrets[(r, g, e)] = new

    def cmd(number: int, action: list, operator: Operator | None = None) -> bytes:
        return forge.command(cluster, number, action, operator or log.operator)

    # Epoch 1 for every replica; replays and gaps of replica records.
    for r in range(4):
        record, new = rotate(r, 0, 1)
        accept_replica(f"replica {r} epoch 1", record, new, r, 0, 1)
        if r == 0:
            first = record
    entry("replica 0 epoch 1 again", "replay", REPLICA, first)
    entry("replica 0, another epoch-1 record", "epoch-taken", REPLICA, rotate(0, 0, 1, label=" other")[0])
    entry("replica 0 epoch 3", "epoch-gap", REPLICA, forge.replica_record(cluster, 0, 0, 3, ReplicaSecret("gap"), secrets[(0, 0, 1)]))
    entry("replica 9 of 4", "replica-out-of-range", REPLICA, forge.replica_record(cluster, 9, 0, 1, ReplicaSecret("x"), secrets[(0, 0, 0)]))
    entry("replica 0 epoch 2 under replica 1's authority", "bad-record-signature", REPLICA,
          forge.replica_record(cluster, 0, 0, 2, ReplicaSecret("y"), secrets[(1, 0, 1)]))
    entry("replica 0 epoch 2 with replica 1's TLS pin", "foreign-tls-pin", REPLICA,
          rotate(0, 0, 2, pin=secrets[(1, 0, 1)].pin)[0])
    entry("a record that is not CBOR", "malformed-record", REPLICA, b"\x01\x02garbage")

    # Clients: one Ed25519, one ECDSA P-256.
    c0, c1 = ClientSecret("client 0 e0"), ClientSecret("client 1 e0", "ecdsa-p256-sha256")
    client_secrets = {(0, 0): c0, (1, 0): c1}
    entry("add-client 0", "", COMMAND, cmd(1, forge.add_client(forge.client_descriptor(cluster, 0, c0))))
    add_1 = cmd(2, forge.add_client(forge.client_descriptor(cluster, 1, c1)))
    entry("add-client 1 (P-256)", "", COMMAND, add_1)
    entry("add-client 1 again (same bytes)", "command-replay", COMMAND, add_1)
    entry("command 3: add-client 0 again", "client-id-taken", COMMAND,
          cmd(3, forge.add_client(forge.client_descriptor(cluster, 0, ClientSecret("again")))))

    # Hostile operator commands, each void and changing nothing.
    stranger = Operator("another cluster's operator")
    entry("signed by another operator", "bad-operator-signature", COMMAND, cmd(3, forge.rotate_replica_keys(None, 7), stranger))
    entry("another cluster's id", "wrong-cluster", COMMAND,
          forge.command(bytes(16), 3, forge.rotate_replica_keys(None, 7), log.operator))
    honest = cmd(3, forge.rotate_replica_keys([1, 2], CONSENSUS | MAIN))
    body, signature = v.canonical(honest)
    altered_body = body.replace(bytes([0x82, 0x01, 0x02]), bytes([0x82, 0x01, 0x03]))  # targets [1, 2] → [1, 3]
    assert altered_body != body
    entry("altered after signing", "bad-operator-signature", COMMAND, v.encode([altered_body, signature]))
    entry("not CBOR", "malformed-command", COMMAND, b"\xff\x00")
    entry("targets not ascending", "malformed-command", COMMAND, cmd(3, forge.rotate_replica_keys([2, 1], 1)))
    entry("kinds with an unknown bit", "malformed-command", COMMAND, cmd(3, forge.rotate_replica_keys([1], 8)))
    entry("rotate replica 4 of 4", "unknown-target", COMMAND, cmd(3, forge.rotate_replica_keys([1, 4], 1)))
    entry("rotate client 5 (never added)", "unknown-target", COMMAND, cmd(3, forge.rotate_client_keys([0, 5], 1)))
    entry("remove client 7 (never added)", "unknown-target", COMMAND, cmd(3, forge.remove_client(7)))
    entry("add-client whose binding another key signed", "invalid-command", COMMAND,
          cmd(3, forge.add_client(forge.client_descriptor(cluster, 2, ClientSecret("c2"), signer=ClientSecret("not c2")))))
    squatter = ClientSecret("squatter")
    entry("add-client with replica 0's TLS pin", "invalid-command", COMMAND, cmd(3, forge.add_client(forge.client_descriptor(
        cluster, 2, squatter, key_set=[squatter.scheme, squatter.signing_public, secrets[(0, 0, 1)].pin, squatter.api_tls_pin]))))
    entry("add-client with client 0's API TLS pin", "invalid-command", COMMAND, cmd(3, forge.add_client(forge.client_descriptor(
        cluster, 2, squatter, key_set=[squatter.scheme, squatter.signing_public, squatter.tls_pin, c0.api_tls_pin]))))
    entry("rotate-operator-key with a proof by another key", "invalid-command", COMMAND,
          cmd(3, forge.rotate_operator_key(cluster, 3, Operator("new"), prover=Operator("someone"))))
    entry("rotate-operator-key with a proof for another number", "invalid-command", COMMAND,
          cmd(3, [5, Operator("new").cbor, Operator("new").sign(v.operator_key_binding_message(cluster, 4, tuple(Operator("new").cbor)))]))
    bad_pop = ReplicaSecret("replacement bad pop").descriptor(3, "127.0.0.1:21003")
    bad_pop[4] = ReplicaSecret("someone else").pop
    entry("replace-replica with another key's proof of possession", "invalid-command", COMMAND, cmd(3, forge.replace_replica(bad_pop)))
    reused = ReplicaSecret("replacement reused pin").descriptor(3, "127.0.0.1:21003")
    reused[5] = secrets[(3, 0, 0)].pin
    entry("replace-replica reusing the replica's own retired pin", "invalid-command", COMMAND, cmd(3, forge.replace_replica(reused)))
    copied = ReplicaSecret("replacement copied key").descriptor(3, "127.0.0.1:21003")
    copied[2] = secrets[(0, 0, 1)].main
    entry("replace-replica with replica 0's main key", "invalid-command", COMMAND, cmd(3, forge.replace_replica(copied)))
    entry("replace-replica 4 of 4", "unknown-target", COMMAND,
          cmd(3, forge.replace_replica(ReplicaSecret("r4").descriptor(4, "127.0.0.1:21004"))))
    s = log.next_sequence()
    entry("certificate by 2 replicas (quorum 3)", "certificate-invalid", COMMAND, honest,
          log.certify(s, forge.command_approval(cluster, honest), v.DST_COMMAND_APPROVAL, [0, 1]))
    entry("certificate over another command's approval", "certificate-invalid", COMMAND, honest,
          log.certify(s + 1, forge.command_approval(cluster, add_1), v.DST_COMMAND_APPROVAL))
    entry("certificate under the key-log DST", "certificate-invalid", COMMAND, honest,
          log.certify(s + 2, forge.command_approval(cluster, honest), v.DST_APPROVAL))
    entry("certificate with a padding bit", "malformed-certificate", COMMAND, honest,
          v.encode([bytes(v.canonical(log.certify(s + 3, b"x", v.DST_APPROVAL))[0]), bytes([0b10000111]), [[0, 1]] * 3]))
    entry("certificate by the bootstrap keys, superseded", "certificate-invalid", COMMAND, honest,
          forge.certificate(4, [(r, 0, 0, secrets[(r, 0, 0)]) for r in range(3)], forge.command_approval(cluster, honest),
                            v.DST_COMMAND_APPROVAL))
    assert log.model.highest_command == 2 and log.model.pending == {}

    # Command 3: rotate consensus and main keys of replicas 1 and 2; command 4: every client, all kinds.
    entry("command 3: rotate-replica-keys [1, 2] consensus,main", "", COMMAND, honest)
    entry("command 4: rotate-client-keys all", "", COMMAND, cmd(4, forge.rotate_client_keys(None, SIGNING | CLIENT_TLS | API_TLS)))
    facts["pending after 4"] = {node: list(orders) for node, orders in log.model.pending.items()}
    entry("replica 1 naming command 5 (never executed)", "unknown-command", REPLICA, rotate(1, 0, 2, 5)[0])
    entry("replica 1 naming command 4 (a client rotation)", "unknown-command", REPLICA, rotate(1, 0, 2, 4)[0])
    entry("replica 3 naming command 3 (not a target)", "unknown-command", REPLICA, rotate(3, 0, 2, 3)[0])
    entry("replica 1 carrying its main key for command 3", "kinds-not-renewed", REPLICA, rotate(1, 0, 2, 3, main=secrets[(1, 0, 1)])[0])
    record, new = rotate(1, 0, 2, 3, pin=secrets[(1, 0, 1)].pin)
    accept_replica("replica 1 renews consensus and main for command 3, carries its TLS pin", record, new, 1, 0, 2)
    record, new = rotate(2, 0, 2, 0)
    accept_replica("replica 2 rotates without naming a command", record, new, 2, 0, 2)
    facts["replica 2 still pending"] = log.model.pending_orders(("replica", 2))
    entry("replica 2 for command 3 with client 0's TLS pin", "foreign-tls-pin", REPLICA, rotate(2, 0, 3, 3, pin=c0.tls_pin)[0])
    record, new = rotate(2, 0, 3, 3)
    accept_replica("replica 2 for command 3", record, new, 2, 0, 3)

    # Client records.
    c0e1 = ClientSecret("client 0 e1")
    entry("client 9 (never added)", "unknown-client", CLIENT, forge.client_record(cluster, 9, 1, c0e1, c0e1))
    entry("client 0 epoch 1 authorised by its own new key", "bad-record-signature", CLIENT, forge.client_record(cluster, 0, 1, c0e1, c0e1, 4))
    entry("client 0 epoch 1 authorised by client 1", "bad-record-signature", CLIENT, forge.client_record(cluster, 0, 1, c0e1, c1, 4))
    entry("client 0 epoch 2", "epoch-gap", CLIENT, forge.client_record(cluster, 0, 2, c0e1, c0, 4))
    entry("client 0 naming command 3 (a replica rotation)", "unknown-command", CLIENT, forge.client_record(cluster, 0, 1, c0e1, c0, 3))
    entry("client 0 carrying its signing key for command 4", "kinds-not-renewed", CLIENT, forge.client_record(
        cluster, 0, 1, c0, c0, 4, key_set=[c0.scheme, c0.signing_public, c0e1.tls_pin, c0e1.api_tls_pin]))
    entry("client 0 carrying its API TLS pin for command 4", "kinds-not-renewed", CLIENT, forge.client_record(
        cluster, 0, 1, c0e1, c0, 4, key_set=[c0e1.scheme, c0e1.signing_public, c0e1.tls_pin, c0.api_tls_pin]))
    entry("client 0 with replica 1's TLS pin", "foreign-tls-pin", CLIENT, forge.client_record(
        cluster, 0, 1, c0e1, c0, 4, key_set=[c0e1.scheme, c0e1.signing_public, secrets[(1, 0, 2)].pin, c0e1.api_tls_pin]))
    entry("client 0 with client 1's TLS pin as its API pin", "foreign-tls-pin", CLIENT, forge.client_record(
        cluster, 0, 1, c0e1, c0, 4, key_set=[c0e1.scheme, c0e1.signing_public, c0e1.tls_pin, c1.tls_pin]))
    good = forge.client_record(cluster, 0, 1, c0e1, c0, 4)
    s = log.next_sequence()
    entry("client 0's record certified under the key-log DST", "certificate-invalid", CLIENT, good,
          log.certify(s, forge.client_approval(cluster, good), v.DST_APPROVAL))
    entry("client 0's record with a certificate that is not CBOR", "malformed-certificate", CLIENT, good, b"\x00")
    entry("client 0 epoch 1 for command 4", "", CLIENT, good)
    client_secrets[(0, 1)] = c0e1
    entry("client 0 epoch 1 again", "replay", CLIENT, good)
    entry("client 0, another epoch-1 record", "epoch-taken", CLIENT, forge.client_record(cluster, 0, 1, ClientSecret("c0 other"), c0, 4))
    entry("a client record that is not CBOR", "malformed-record", CLIENT, b"\x82\x40")
    facts["pending after client 0"] = {node: list(orders) for node, orders in log.model.pending.items()}

    # remove-client 1: its orders dropped, its id never reused.
    entry("command 5: remove-client 1", "", COMMAND, cmd(5, forge.remove_client(1)))
    c1e1 = ClientSecret("client 1 e1", "ecdsa-p256-sha256")
    entry("client 1 after its removal", "client-removed", CLIENT, forge.client_record(cluster, 1, 1, c1e1, c1, 4))
    entry("command 6: add-client 1 again", "client-id-taken", COMMAND,
          cmd(6, forge.add_client(forge.client_descriptor(cluster, 1, ClientSecret("new client 1")))))
    entry("command 6: rotate removed client 1", "unknown-target", COMMAND, cmd(6, forge.rotate_client_keys([1], 1)))
    entry("command 6: remove client 1 again", "unknown-target", COMMAND, cmd(6, forge.remove_client(1)))

    # The operator key rotates to ECDSA P-384: the old key is refused after, the new accepted.
    new_operator = Operator("forged operator 2", "ecdsa-p384-sha384")
    entry("command 6: rotate-operator-key to P-384", "", COMMAND, cmd(6, forge.rotate_operator_key(cluster, 6, new_operator)))
    entry("command 7 under the retired operator key", "bad-operator-signature", COMMAND,
          cmd(7, forge.rotate_replica_keys([0], TLS)))
    entry("command 4 replayed under the new key", "command-replay", COMMAND,
          cmd(4, forge.rotate_client_keys(None, SIGNING), new_operator))

    # replace-replica 3: generation 1, its old generation's records void from now on.
    replacement = ReplicaSecret("forged 3 1 0")
    entry("command 7: replace-replica 3", "", COMMAND,
          cmd(7, forge.replace_replica(replacement.descriptor(3, "127.0.0.1:21003")), new_operator))
    secrets[(3, 1, 0)] = replacement
    entry("replica 3 generation 0 epoch 2, after its replacement", "unknown-generation", REPLICA, rotate(3, 0, 2)[0])
    entry("command 7 again", "command-replay", COMMAND,
          cmd(7, forge.replace_replica(ReplicaSecret("another").descriptor(3, "127.0.0.1:21005")), new_operator))
    entry("command 8: add-client 2 (P-256)", "", COMMAND, cmd(8, forge.add_client(forge.client_descriptor(
        cluster, 2, ClientSecret("client 2 e0", "ecdsa-p256-sha256"))), new_operator))
    entry("command 9: rotate-replica-keys all, TLS", "", COMMAND, cmd(9, forge.rotate_replica_keys(None, TLS), new_operator))

    # Let the replacement's keys become active (two checkpoints), then it rotates under them.
    log.sequence += 2 * log.model.interval
    for r in range(4):
        g = 1 if r == 3 else 0
        e = max(e for (rr, gg, e) in secrets if rr == r and gg == g) + 1
        carried = secrets[(r, g, e - 1)]
        record, new = rotate(r, g, e, 9, consensus=carried, main=carried)
        accept_replica(f"replica {r} renews only its TLS key for command 9", record, new, r, g, e)
    facts["progress 3"] = log.model.command_progress(3, boundary=0)
    return log, expected, facts


def test_forged_log_is_decided_alike_by_the_independent_verifier_and_custos(tmp_path, custos_bin):
    log, expected, facts = build_log()
    reasons = {reason for _, reason in expected if reason}
    # Every void reason of the specification is reached at least once.
    assert reasons == {
        "malformed-record", "replica-out-of-range", "unknown-generation", "replay", "epoch-taken", "epoch-gap",
        "bad-record-signature", "foreign-tls-pin", "malformed-certificate", "certificate-invalid",
        "unknown-client", "client-removed", "unknown-command", "kinds-not-renewed",
        "malformed-command", "wrong-cluster", "bad-operator-signature", "command-replay", "unknown-target",
        "client-id-taken", "invalid-command"}, reasons

    # Pending orders: command 3 for replicas 1 and 2, command 4 for both clients; a record
    # answering command 3 satisfied replica 1's; one naming no command satisfied nothing.
    assert facts["pending after 4"] == {("replica", 1): [(3, 3)], ("replica", 2): [(3, 3)],
                                        ("client", 0): [(4, 7)], ("client", 1): [(4, 7)]}
    assert facts["replica 2 still pending"] == [(3, 3)]
    assert facts["pending after client 0"] == {("replica", 1): [], ("replica", 2): [], ("client", 0): [], ("client", 1): [(4, 7)]}
    # Not complete until the records answering it are active.
    assert facts["progress 3"]["remaining"] == [("replica", 1), ("replica", 2)]

    checkpoints = [log.checkpoint(b) for b in range(2, log.sequence - 1, 2)
                   if any(s <= b for s, *_ in log.model.entries)][-3:]
    export = log.export(checkpoints)
    path = tmp_path / "forged.cbor"
    path.write_bytes(export)

    independent = v.verify_export(export, cross_check_py_ecc=False)
    assert [(reason) for *_, reason in independent.entries] == [reason for _, reason in expected]
    assert independent.head == log.model.head and len(independent.checkpoints) == len(checkpoints)
    final = log.sequence
    assert independent.operator == ("ecdsa-p384-sha384", Operator("forged operator 2", "ecdsa-p384-sha384").public)
    assert sorted(independent.registered_clients()) == [0, 2]
    assert independent.keyset(final + 8)[3].generation == 1 and independent.keyset(final + 8)[3].epoch == 1
    clients = independent.client_keyset(final + 8)
    assert sorted(clients) == [0, 2] and clients[0].epoch == 1 and clients[2].epoch == 0
    progress = {c: independent.command_progress(c, boundary=final + 8) for c in range(1, 10)}
    assert progress[2] is None or progress[2]["complete"]
    assert progress[3]["complete"] and progress[4]["complete"] and progress[9]["complete"], progress
    assert independent.command_progress(9, boundary=0)["remaining"] == [("replica", r) for r in range(4)]

    # Custos replays the same export from genesis: valid only if every entry comes out
    # byte-identical (status and reason) and the head is the same.
    report = Custos(custos_bin, tmp_path).run("cluster", "log", "verify", path, "--json").json()
    assert report["valid"], report
    assert report["head"] == independent.head.hex()
    assert report["entries"] == len(expected) and report["accepted"] == sum(1 for _, reason in expected if not reason)
    assert report["checkpoints_verified"] == len(checkpoints)

    # One entry's reason changed: both refuse it, naming the entry.
    tampered = [list(e) for e in log.entries]
    index = next(i for i, e in enumerate(tampered) if e[5] == "command-replay")
    tampered[index][5] = "unknown-target"
    bad = tmp_path / "tampered.cbor"
    bad.write_bytes(v.encode([log.configuration, tampered, []]))
    with pytest.raises(v.VerificationError, match=f"entry {index} "):
        v.verify_export(bad.read_bytes())
    refused = Custos(custos_bin, tmp_path).run("cluster", "log", "verify", bad, "--json", expect=1).json()
    assert not refused["valid"] and str(index) in refused["problem"], refused


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One seeded mutation: a bit flipped, a byte replaced, inserted or removed, or a truncation."""
    data = bytearray(data)
    at = rng.randrange(len(data))
    choice = rng.randrange(5)
    if choice == 0:
        data[at] ^= 1 << rng.randrange(8)
    elif choice == 1:
        data[at] = rng.randrange(256)
    elif choice == 2:
        data.insert(at, rng.randrange(256))
    elif choice == 3:
        del data[at]
    else:
        del data[at:]
    return bytes(data)


def test_mutated_items_and_certificates_are_decided_alike(tmp_path, custos_bin):
    """Differential: seeded mutations of valid items of each kind (and of their certificates),
    each decided by the independent verifier, then replayed by Custos, which must agree on
    every one (status and reason)."""
    log, _, _ = build_log()
    cluster, secrets = log.cluster, log.secrets
    s = log.next_sequence()
    valid = []
    r0 = max(e for (r, g, e) in secrets if (r, g) == (0, 0))
    new = ReplicaSecret("mutation base")
    valid.append((REPLICA, forge.replica_record(cluster, 0, 0, r0 + 1, new, secrets[(0, 0, r0)])))
    c0 = log.model.clients[0].history[-1][1]
    assert c0.epoch == 1
    c0_secret = ClientSecret("client 0 e1")
    valid.append((CLIENT, forge.client_record(cluster, 0, 2, ClientSecret("mutation client"), c0_secret)))
    operator = Operator("forged operator 2", "ecdsa-p384-sha384")
    valid.append((COMMAND, forge.command(cluster, 10, forge.rotate_client_keys([0, 2], SIGNING | API_TLS), operator)))
    valid.append((COMMAND, forge.command(cluster, 10, forge.add_client(forge.client_descriptor(
        cluster, 3, ClientSecret("mutation add", "ecdsa-p256-sha256"))), operator)))
    bases = [(kind, item, log.certify(s, *log.approval(kind, item))) for kind, item in valid]
    rng = random.Random(15)
    decided = {}
    consumed = set()  # bases a mutation of which was accepted: the base itself is then a replay
    for _ in range(300):
        index = rng.randrange(len(bases))
        kind, item, certificate = bases[index]
        if rng.randrange(3):
            item = mutate(rng, item)
        else:
            certificate = mutate(rng, certificate)
        if len(item) > (v.COMMAND_LIMIT if kind == COMMAND else v.RECORD_LIMIT):
            continue
        reason = log.append(kind, item, certificate, s=s)
        decided[reason] = decided.get(reason, 0) + 1
        if reason == "":
            consumed.add(index)
    # Unmutated, each base is accepted (so every mutation tested a check that would have passed).
    for index, (kind, item, certificate) in enumerate(bases[:3]):
        if index not in consumed:
            assert log.append(kind, item, certificate, s=s) == ""
    assert len(decided) >= 4, decided
    path = tmp_path / "mutated.cbor"
    path.write_bytes(log.export())
    report = Custos(custos_bin, tmp_path).run("cluster", "log", "verify", path, "--json").json()
    if not report["valid"]:
        index = int(re.search(r"(\d+)", report["problem"]).group(1))
        entry = log.entries[index] if index < len(log.entries) else None
        raise AssertionError(f"Custos disagrees: {report['problem']}; the independent verifier decided "
                             f"{entry[4:] if entry else '?'} for kind {entry[1] if entry else '?'}")
    assert report["head"] == log.model.head.hex()
