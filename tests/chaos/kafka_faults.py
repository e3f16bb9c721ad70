"""Broker faults on an embedded Apache Kafka cluster: SIGKILL the node that holds a role
(leader of input partitions, active KRaft controller), see the cluster move the role to
another node, restart the node on its ports and data, see it back in every ISR.

Everything is read from the cluster itself through the admin API: partition leaders and
ISRs from metadata, the active controller from DescribeQuorum on the metadata log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from harness.embedded import KafkaBroker, KafkaNode
from workers.runtime.settings import Settings

T = TypeVar("T")
INPUTS = ("inbound.sms", "inbound.email", "inbound.webchat", "handoff.requests")
"""The topics the outside world writes to."""


@dataclass
class Fault:
    """One SIGKILL and restart, with how long the cluster took over each step."""

    role: str            # "leader" or "controller"
    node_id: int
    led: int             # input partitions the node led when killed
    moved_s: float = 0.0     # SIGKILL -> the role held by another node
    rejoined_s: float = 0.0  # restart -> the node in the ISR of every partition again

    def __str__(self) -> str:
        return (f"{self.role} node {self.node_id} (led {self.led} input partitions): "
                f"role moved in {self.moved_s:.1f} s, back in every ISR "
                f"{self.rejoined_s:.1f} s after its restart")


class ClusterFaults:
    """Kills and restarts nodes of `broker` by the role they hold."""

    def __init__(self, broker: KafkaBroker, settings: Settings,
                 timeout_s: float = 90.0) -> None:
        self.broker = broker
        self.inputs = [settings.topic(t) for t in INPUTS]
        self.timeout_s = timeout_s
        self.faults: list[Fault] = []
        self._admin: KafkaAdminClient | None = None

    def _ask(self, question: Callable[[KafkaAdminClient], T], what: str) -> T:
        """One admin call, asked again (on a fresh client) while nodes are away."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        bootstrap_servers=self.broker.bootstrap, request_timeout_ms=5000,
                        client_id="ticketflow-faults")
                return question(self._admin)
            except KafkaError as exc:
                self.close()
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what}: no answer within {self.timeout_s}s") from exc
                time.sleep(0.2)

    def _until(self, done: Callable[[], bool], what: str) -> float:
        """Poll `done` until it holds; the seconds it took."""
        started = time.monotonic()
        while not done():
            if time.monotonic() - started > self.timeout_s:
                raise AssertionError(f"{what} not seen within {self.timeout_s}s")
            time.sleep(0.1)
        return time.monotonic() - started

    def partitions(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of every partition of these topics (all topics when None)."""
        described = self._ask(lambda admin: admin.describe_topics(topics), "describe topics")
        return [p for t in described for p in t["partitions"]]

    def leaders(self) -> Counter[int]:
        """Input partitions led by each node."""
        return Counter(p["leader_id"] for p in self.partitions(self.inputs))

    def controller(self) -> int:
        """The node id of the active KRaft controller (-1 while there is none)."""
        quorum = self._ask(lambda admin: admin.describe_metadata_quorum(), "describe quorum")
        return int(quorum["topics"][0]["partitions"][0]["leader_id"])

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.broker.nodes if n.node_id == node_id)

    def kill_input_leader(self) -> Fault:
        """SIGKILL the node, other than the active controller, that leads the most input
        partitions; return once every input partition has a leader on another node."""
        controller = self.controller()
        led = self.leaders()
        node_id, count = max(((n, c) for n, c in led.items() if n != controller),
                             key=lambda nc: nc[1])
        fault = Fault("leader", node_id, count)
        self.node(node_id).kill()
        fault.moved_s = self._until(lambda: all(
            p["leader_id"] not in (-1, node_id) for p in self.partitions(self.inputs)),
            f"input partitions led by others than killed node {node_id}")
        self.faults.append(fault)
        return fault

    def kill_controller(self) -> Fault:
        """SIGKILL the active controller; return once another node is the controller and
        leads the input partitions it led."""
        node_id = self.controller()
        fault = Fault("controller", node_id, self.leaders()[node_id])
        self.node(node_id).kill()
        fault.moved_s = self._until(
            lambda: self.controller() not in (-1, node_id) and all(
                p["leader_id"] not in (-1, node_id) for p in self.partitions(self.inputs)),
            f"a controller other than killed node {node_id}")
        self.faults.append(fault)
        return fault

    def restart(self, fault: Fault) -> None:
        """Start the killed node again (same ports, same data) and wait until it has
        caught up: in the ISR of every partition of every topic, internal ones included,
        so that the next fault finds every write on two nodes at least."""
        started = time.monotonic()
        self.broker.restart(self.node(fault.node_id), self.timeout_s)
        self._until(lambda: all(len(p["isr_nodes"]) == len(p["replica_nodes"])
                                for p in self.partitions()),
                    f"node {fault.node_id} back in every ISR")
        fault.rejoined_s = time.monotonic() - started

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            finally:
                self._admin = None
