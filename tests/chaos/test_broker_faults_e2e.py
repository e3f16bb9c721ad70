"""X6, broker faults: two replicas of every worker kind on a 3-node Apache Kafka cluster
(KRaft, replication factor 3, min.insync.replicas 2, acks=all) while traffic flows. The
node leading the most input partitions is SIGKILLed and, once its partitions have new
leaders, restarted; then the active controller is SIGKILLed and restarted the same way.
The traffic lasts until both faults are over; then everything is checked against the
inputs as the chaos run does. Apache Kafka only: `make chaos-kafka` runs it."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from harness.embedded import EmbeddedStack, KafkaBroker
from harness.processes import WORKER_KINDS, WorkerProcess
from schemas.events import TicketMessage
from tests.chaos.kafka_faults import ClusterFaults
from tests.chaos.scenario import (
    T0,
    Traffic,
    account,
    bring_online,
    check_invariants,
    counts,
    follow_through,
)
from tests.conftest import _KAFKA_LOGS, ClockControl, test_broker
from tests.handoff.conftest import SECRETS
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline
from workers.state.config_publish import publish_accounts

pytestmark = [pytest.mark.broker_faults]

NODES = 3
REPLICAS = 2          # of each worker kind
RATE = 40.0           # input records per second, all along the faults
BLOCK = 10            # conversations the traffic adds at a time
AT_LEAST = 200        # conversations, however fast the faults are over
FLOWING = 60          # new messages threaded before each fault: traffic goes through


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    """A 3-node Kafka cluster and a redis-server of this test's own: nodes of it are
    killed. Its server logs are kept when the test fails."""
    if test_broker() != "kafka":
        pytest.skip("broker faults run on Apache Kafka only (make chaos-kafka)")
    if os.environ.get("TICKETFLOW_KAFKA"):
        pytest.skip("broker faults kill nodes of a cluster of their own, not TICKETFLOW_KAFKA")
    stack = EmbeddedStack(broker="kafka", brokers=NODES, redis_appendonly=True)
    stack.start()
    broker = stack.broker
    assert isinstance(broker, KafkaBroker)
    request.config.stash[_KAFKA_LOGS] = [str(p) for p in broker.log_paths]
    try:
        yield stack
    finally:
        if request.session.testsfailed:
            request.config.stash[_KAFKA_LOGS] = [str(broker.keep_logs())]
        stack.stop()


class Publisher:
    """The inputs' producer, sending the traffic from a thread of its own while the test
    thread kills and restarts nodes (and starts them: children die with their thread)."""

    def __init__(self, pipeline: Pipeline, traffic: Traffic) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        records = traffic.stream(self.stop, BLOCK, AT_LEAST)
        self.thread = threading.Thread(target=self._run, args=(pipeline, records),
                                       daemon=True)

    def _run(self, pipeline: Pipeline, records: Iterator[tuple[str, str, bytes]]) -> None:
        try:
            pipeline.publish_many(records, rate=RATE)  # every record acked by the end
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout_s: float = 180.0) -> None:
        self.stop.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the inputs producer did not finish"
        if self.error is not None:
            raise AssertionError("publishing the inputs failed") from self.error


def wait_flowing(pipeline: Pipeline, seen: int) -> int:
    """Until `FLOWING` more customer messages than `seen` are threaded; the new count."""
    pipeline.events.wait_for(
        lambda rs: sum(isinstance(r, TicketMessage) for r in rs) >= seen + FLOWING,
        timeout_s=120, what=f"{FLOWING} more messages threaded")
    return sum(isinstance(r, TicketMessage) for r in pipeline.events.records)


def first_traceback(worker: WorkerProcess, lines: int = 60) -> list[str]:
    """The log of a replica from just before its first traceback: what went wrong first."""
    start = next((i for i, line in enumerate(worker.lines) if line.startswith("Traceback")),
                 len(worker.lines))
    start = max(0, start - 10)
    return worker.lines[start:start + lines]


def test_pipeline_survives_leader_and_controller_kills(
        cluster: EmbeddedStack, zendesk: FakeHelpdesk, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    # The test's own clients log every refused connection to a node it killed on purpose.
    caplog.set_level(logging.CRITICAL, logger="kafka")
    # The production profile: its group timeouts (a 300 s max poll interval) outlast a
    # batch that waits out a leader failover (Kafka fences a dead node after 9 s); the dev
    # profile's 5 s would have Kafka take that replica for a stuck one.
    settings = msgspec.structs.replace(cluster.settings, profile="prod", batch_wait_ms=20,
                                       clock="redis", helpdesk_allowed_hosts=("127.0.0.1",))
    assert isinstance(cluster.broker, KafkaBroker)
    faults = ClusterFaults(cluster.broker, settings)
    clock = ClockControl(settings)
    clock.set(T0)
    publish_accounts(settings, [account(zendesk)])
    workers = [WorkerProcess(kind, settings, extra_env=SECRETS).start()
               for kind in WORKER_KINDS for _ in range(REPLICAS)]
    pipeline = Pipeline(settings, idempotent=True)
    traffic = Traffic()
    publisher = Publisher(pipeline, traffic)
    started = time.monotonic()
    try:
        bring_online(pipeline, workers)
        publisher.thread.start()
        threaded = wait_flowing(pipeline, 0)
        faults.restart(faults.kill_input_leader())
        threaded = wait_flowing(pipeline, threaded)
        faults.restart(faults.kill_controller())
        wait_flowing(pipeline, threaded)
        publisher.finish()
        faults_over = time.monotonic() - started

        outcome = follow_through(pipeline, clock, traffic)
        died = [f"{w.kind}:{w.proc.pid} exit {w.proc.poll()}:\n" + "\n".join(first_traceback(w))
                for w in workers if not w.alive]
        exit_codes = [w.sigterm(40) for w in workers]
        outcome.events = pipeline.events.drain()
        outcome.stamps = [raw.timestamp for raw in pipeline.events.raw]
    finally:
        publisher.stop.set()
        for n, worker in enumerate(workers):  # logs kept with the test's temporary files
            worker.sigkill()
            (tmp_path / f"{worker.kind}-{n}.log").write_text("\n".join(worker.lines))
        faults.close()
        pipeline.close()

    check_invariants(outcome, traffic, zendesk)
    if died:  # no replica is restarted here: each one rides out the faults
        pytest.fail("replicas that died during the broker faults:\n" + "\n\n".join(died))
    assert exit_codes == [0] * len(workers), "replicas that did not drain on SIGTERM"
    assert [f.role for f in faults.faults] == ["leader", "controller"]
    own = sum(" WARNING workers." in line for w in workers for line in w.lines)
    print(f"\nbroker faults: {counts(outcome, traffic)}; {len(workers)} replicas on "
          f"{NODES} Kafka nodes, none died, {own} warnings of their own (batches retried, "
          f"commits unconfirmed); "
          + "; ".join(f"SIGKILL {f}" for f in faults.faults)
          + f"; traffic {faults_over:.0f} s, whole run {time.monotonic() - started:.0f} s")
