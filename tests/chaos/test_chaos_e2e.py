"""X1 under fire: three replicas of every worker kind on one broker and an AOF Redis, while
replicas are SIGKILLed and restarted at random moments and Redis itself is killed and
restarted once. Then everything is checked against the inputs."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from harness.embedded import RedisServer
from harness.processes import WORKER_KINDS, WorkerProcess
from tests.chaos.scenario import (
    T0,
    Traffic,
    account,
    bring_online,
    check_invariants,
    counts,
    follow_through,
)
from tests.conftest import ClockControl
from tests.handoff.conftest import SECRETS
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline
from workers.runtime.consumer import SHUTDOWN_GRACE_S
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

CONVERSATIONS = 450        # each: a new ticket with two customer messages
REPLICAS = 3


class Chaos:
    """SIGKILLs a random replica every 1.5-3 s and restarts it; kills Redis once."""

    def __init__(self, workers: list[WorkerProcess], redis_server: RedisServer) -> None:
        self.workers = workers
        self.redis_server = redis_server
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.kills = 0
        self.redis_kills = 0
        self.rng = random.Random(20261123)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(self.rng.uniform(1.5, 3.0)):  # the schedule of the faults
            victim = self.rng.choice(self.workers)
            victim.sigkill()
            victim.start()
            self.kills += 1
            if not self.redis_kills and time.monotonic() - started > 6:
                self.redis_server.kill()
                self.stop.wait(1.0)
                self.redis_server.start()  # same port, same AOF file
                self.redis_kills += 1
        # Children die with the *thread* that started them (PR_SET_PDEATHSIG), so this
        # thread lives until the test has stopped everything it restarted.
        self.finished.wait()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    server.stop()


def test_replicas_survive_sigkills_and_a_redis_restart(
        settings: Settings, aof_redis: RedisServer, zendesk: FakeHelpdesk) -> None:
    settings = msgspec.structs.replace(settings, redis_url=aof_redis.url, clock="redis",
                                       helpdesk_allowed_hosts=("127.0.0.1",))
    clock = ClockControl(settings)
    clock.set(T0)
    publish_accounts(settings, [account(zendesk)])
    workers = [WorkerProcess(kind, settings, extra_env=SECRETS).start()
               for kind in WORKER_KINDS for _ in range(REPLICAS)]
    pipeline = Pipeline(settings)
    chaos = Chaos(workers, aof_redis)
    traffic = Traffic()
    try:
        bring_online(pipeline, workers)
        chaos.thread.start()

        # Traffic: conversations, malformed records and handoffs, interleaved and paced.
        pipeline.publish_many(traffic.add(CONVERSATIONS), rate=120.0)

        def closing() -> None:
            time_to_close = time.monotonic() + 20
            while time.monotonic() < time_to_close and not chaos.stop.is_set():
                pipeline.events.poll()  # closes happen while replicas keep dying
            chaos.stop.set()
        outcome = follow_through(pipeline, clock, traffic, while_closing=closing)
        for worker in workers:  # scale everything down at once, as an operator would
            if worker.alive:
                worker.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        exit_codes = [w.wait(40) for w in workers]  # one SIGTERM each, as an operator sends
        outcome.events = pipeline.events.drain()
        outcome.stamps = [raw.timestamp for raw in pipeline.events.raw]
    finally:
        chaos.stop.set()
        for worker in workers:
            worker.sigkill()
        pipeline.close()
        aof_redis.stop()
        chaos.finished.set()

    check_invariants(outcome, traffic, zendesk)
    # SIGTERM drains and exits cleanly
    stuck = [f"{w.kind}:{w.proc.pid} exit {code}:\n" + "\n".join(
                 line for line in w.lines if "ERROR" in line or "WARNING" in line)
             for w, code in zip(workers, exit_codes, strict=True)
             # A replica SIGTERMed while still starting (no handler yet, nothing consumed)
             # dies of the signal itself: nothing was in flight, so that is a clean stop.
             if code and not (code == -15 and not any("ready" in x for x in w.lines))]
    if stuck:
        pytest.fail("replicas that did not drain on SIGTERM:\n" + "\n\n".join(stuck))
    assert chaos.kills >= 10 and chaos.redis_kills == 1
    forced = sum(any("shutdown still running" in line for line in w.lines) for w in workers)
    print(f"\nchaos: {counts(outcome, traffic)}; {chaos.kills} replica SIGKILLs, 1 Redis kill; "
          f"{len(workers) - forced} of {len(workers)} replicas drained on SIGTERM, "
          f"{forced} stopped at the {SHUTDOWN_GRACE_S:.0f} s deadline holding no batch")
