"""A stub sequencer standing in for the ledger's ordering (test code, not product).

It does what a ledger node does for its Custos (docs/cluster.md, "Scheduling"): it polls
`GET /v1/cluster/certified` of every replica, gives each new certified item (a replica record,
a client record or an operator command, named by its kind) the next sequence number, and hands every replica the same schedule notices in the same order, with a
checkpoint notice at every boundary B (a multiple of W) whose ledger digest is the hash of the
ledger up to B. Each `tick` also advances the ledger by one empty slot, so that boundaries
come and keys activate. A replica that cannot be reached keeps its notices queued, in order,
and gets them when it answers again (as a ledger node replays its committed log). The
checkpoint signature each replica returns for a checkpoint notice is kept, with the time it
came back, for the tests to verify under keyset(B).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class Replica:
    url: str
    token: str
    # Notices not yet handed in, oldest first: ("schedule", body) or ("checkpoint", body).
    queue: list = field(default_factory=list)

    def call(self, method: str, path: str, body=None, timeout: float = 10) -> requests.Response:
        return requests.request(method, self.url + path, json=body, timeout=timeout,
                                headers={"Authorization": f"Bearer {self.token}"})


class Sequencer:
    def __init__(self, replicas: list[Replica], interval: int):
        self.replicas = replicas
        self.interval = interval
        self.sequence = 0
        self.ledger = hashlib.sha256(b"stub ledger")
        self.scheduled: dict[bytes, int] = {}  # item bytes -> sequence (the latest, if submitted again)
        # (item, certificate) pairs already ordered: an item whose entry came out void (say, its
        # certificate by keys superseded before it was scheduled) is certified again and comes
        # back with a new certificate, which the ledger orders like any new request.
        self.ordered: set[tuple[bytes, bytes]] = set()
        self.kinds: dict[bytes, str] = {}      # item bytes -> kind
        self.checkpoints: dict[int, str] = {}  # boundary -> ledger digest (hex)
        self.refusals: list[str] = []
        # (replica index, checkpoint signature JSON, time it came back) for every notice answered.
        self.signatures: list[tuple[int, dict, float]] = []
        # (replica index, sequence) -> when the schedule notice that replica accepted was sent.
        self.delivered: dict[tuple[int, int], float] = {}
        # Held while a tick runs, so that a load thread can read `sequence` between ticks.
        self.lock = threading.Lock()

    def _append(self, item: bytes) -> int:
        self.sequence += 1
        self.ledger.update(self.sequence.to_bytes(8, "big") + hashlib.sha256(item).digest())
        return self.sequence

    @staticmethod
    def item_of(certified: dict) -> tuple[str, str]:
        """(kind, item base64) of a certified entry; a replica record when no kind is named."""
        return certified.get("kind", "replica-record"), certified.get("item") or certified["record"]

    def poll_certified(self) -> list[dict]:
        """New certified items, from every replica that answers, each once."""
        found: list[dict] = []
        seen: set[bytes] = set()
        for replica in self.replicas:
            try:
                response = replica.call("GET", "/v1/cluster/certified", timeout=5)
            except requests.RequestException:
                continue
            if response.status_code != 200:
                continue
            body = response.json()
            for certified in body.get("records", body.get("items", [])):
                pair = (base64.b64decode(self.item_of(certified)[1]), base64.b64decode(certified["certificate"]))
                if pair not in self.ordered and pair[0] not in seen:
                    seen.add(pair[0])
                    found.append(certified)
        return found

    def tick(self) -> None:
        """One step of the ledger: schedules what is newly certified (or one empty slot),
        hands a checkpoint notice at each boundary passed, and delivers the queues."""
        with self.lock:
            new = self.poll_certified()
            if new:
                for certified in new:
                    kind, item = self.item_of(certified)
                    raw = base64.b64decode(item)
                    s = self._append(raw)
                    self.scheduled[raw] = s
                    self.ordered.add((raw, base64.b64decode(certified["certificate"])))
                    self.kinds[raw] = kind
                    # A replica record keeps part 1's shape; the other kinds are named.
                    notice = {"sequence": s, "certificate": certified["certificate"]}
                    notice.update({"record": item} if kind == "replica-record" else {"kind": kind, "item": item})
                    for replica in self.replicas:
                        replica.queue.append(("schedule", notice))
                    self._boundary_notice()
            else:
                self._append(b"")
                self._boundary_notice()
            self.deliver()

    def scheduled_of(self, kind: str) -> dict[bytes, int]:
        """The items of one kind scheduled so far, with their sequence."""
        return {raw: s for raw, s in self.scheduled.items() if self.kinds.get(raw) == kind}

    def _boundary_notice(self) -> None:
        if self.sequence % self.interval == 0:
            digest = self.ledger.copy().hexdigest()
            self.checkpoints[self.sequence] = digest
            for replica in self.replicas:
                replica.queue.append(("checkpoint", {"boundary": self.sequence, "ledger_digest": digest}))

    def deliver(self) -> None:
        for index, replica in enumerate(self.replicas):
            while replica.queue:
                kind, body = replica.queue[0]
                path = "/v1/cluster/schedule" if kind == "schedule" else "/v1/cluster/checkpoints"
                sent = time.time()
                try:
                    response = replica.call("POST", path, body)
                except requests.RequestException:
                    break  # down: the notices wait, in order
                if response.status_code >= 500 or response.status_code == 409:
                    break  # not started yet: try again at the next tick
                if response.status_code != 200:
                    self.refusals.append(f"replica {index} {kind} {body}: {response.status_code} {response.text[:300]}")
                elif kind == "checkpoint":
                    self.signatures.append((index, response.json(), time.time()))
                else:
                    self.delivered[(index, body["sequence"])] = sent
                replica.queue.pop(0)
