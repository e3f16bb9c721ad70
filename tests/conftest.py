"""Fixtures: one real broker (tansu) and one real redis-server per session; every test gets
its own topic prefix, consumer-group prefix and Redis key prefix, so tests run in any order."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from harness.embedded import BROKER_KINDS, EmbeddedStack, KafkaBroker
from harness.processes import WorkerProcess
from schemas.config import AccountDocument, load_account_yaml
from tests.pipeline import Pipeline, sync_redis
from workers.runtime.settings import Settings
from workers.runtime.topics import ensure_topics
from workers.state.config_publish import publish_accounts
from workers.state.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
_ids = itertools.count(1)


def test_broker() -> str:
    """The broker the suite runs on: TICKETFLOW_TEST_BROKER=tansu (default) or kafka."""
    kind = os.environ.get("TICKETFLOW_TEST_BROKER", "tansu")
    if kind not in BROKER_KINDS:
        raise pytest.UsageError(f"TICKETFLOW_TEST_BROKER={kind!r}: one of {BROKER_KINDS}")
    return kind


test_broker.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name

_KAFKA_LOGS = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def _stack(request: pytest.FixtureRequest) -> Iterator[EmbeddedStack]:
    # TICKETFLOW_TEST_REDIS=cluster runs the whole suite on a 3-master Redis Cluster.
    stack = EmbeddedStack(redis_cluster=os.environ.get("TICKETFLOW_TEST_REDIS") == "cluster",
                          broker=test_broker())
    stack.start()
    request.config.stash[_KAFKA_LOGS] = [str(p) for p in getattr(stack.broker, "log_paths", [])]
    try:
        yield stack
    finally:
        if request.session.testsfailed and isinstance(stack.broker, KafkaBroker):
            kept = stack.broker.keep_logs()
            request.config.stash[_KAFKA_LOGS] = [str(kept)]
        stack.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test on Kafka names the broker's server log, to be looked into."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    logs = item.config.stash.get(_KAFKA_LOGS, [])
    if report.failed and logs:
        report.sections.append(("kafka broker log", "\n".join(logs) + "\n(copied out of the "
                                "temporary dir at the end of a failed run: see the summary)"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    logs = config.stash.get(_KAFKA_LOGS, [])
    if exitstatus != 0 and logs:
        terminalreporter.write_line(f"kafka broker logs kept in {', '.join(logs)}")


@pytest.fixture
def settings(_stack: EmbeddedStack) -> Settings:
    """Settings private to this test: topics, groups and Redis keys under their own prefix."""
    n = f"{os.getpid()}x{next(_ids)}"
    own = msgspec.structs.replace(
        _stack.settings, topic_prefix=f"t{n}.", redis_prefix=f"tf{n}", group_prefix=f"g{n}",
        batch_wait_ms=20,
    )
    ensure_topics(own)
    return own


@pytest.fixture
def acme() -> AccountDocument:
    return load_account_yaml((ROOT / "deploy" / "accounts" / "acme.yaml").read_text())


@pytest.fixture
def pipeline(settings: Settings, acme: AccountDocument) -> Iterator[Pipeline]:
    """Inputs, outputs and Redis of this test's pipeline; the acme account is applied."""
    publish_accounts(settings, [acme])
    with Pipeline(settings) as p:
        yield p


WORKER_FIXTURES = ("ingest", "router", "closer", "handoff")
READY = r"partitions assigned: [1-9]"


@pytest.fixture
def _workers(request: pytest.FixtureRequest,
             pipeline: Pipeline) -> Iterator[dict[str, WorkerProcess]]:
    """Start every worker kind the test asks for at once (a group join costs ~3 s on
    tansu, so joining in parallel saves that per extra kind); SIGTERM them at the end."""
    started: dict[str, WorkerProcess] = {}
    for kind in WORKER_FIXTURES:
        if kind in request.fixturenames:
            settings = (pipeline.settings if kind == "ingest"
                        else request.getfixturevalue("router_settings"))
            started[kind] = WorkerProcess(kind, settings).start()
    yield started
    for worker in started.values():
        worker.sigterm()


@pytest.fixture
def ingest(_workers: dict[str, WorkerProcess]) -> WorkerProcess:
    """One ingest replica, joined to its group."""
    _workers["ingest"].wait_for_log(READY)
    return _workers["ingest"]


class ClockControl:
    """Moves the workers' controlled clock (TICKETFLOW_CLOCK=redis), waking their sleepers."""

    def __init__(self, settings: Settings) -> None:
        self.key = Keys.of(settings).clock()
        self.redis = sync_redis(settings.redis_url)

    def set(self, instant: datetime) -> None:
        self.redis.set(self.key, repr(instant.timestamp()))
        self.redis.publish(self.key, repr(instant.timestamp()))


MONDAY_OPEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
"""11:00 in Paris on a Monday: acme's business hours are open."""


@pytest.fixture
def clock(settings: Settings) -> Iterator[ClockControl]:
    test_clock = ClockControl(settings)
    test_clock.set(MONDAY_OPEN)
    yield test_clock
    test_clock.redis.close()


@pytest.fixture
def router_settings(pipeline: Pipeline, clock: ClockControl) -> Settings:
    return msgspec.structs.replace(pipeline.settings, clock="redis")


@pytest.fixture
def router(_workers: dict[str, WorkerProcess]) -> WorkerProcess:
    """One router replica on the controlled clock, joined to its group."""
    _workers["router"].wait_for_log(READY)
    return _workers["router"]


@pytest.fixture
def closer(_workers: dict[str, WorkerProcess]) -> WorkerProcess:
    """One closer replica on the controlled clock, joined to its group."""
    _workers["closer"].wait_for_log(READY)
    return _workers["closer"]


@pytest.fixture
def handoff(_workers: dict[str, WorkerProcess]) -> WorkerProcess:
    """One handoff replica on the controlled clock, joined to its group."""
    _workers["handoff"].wait_for_log(READY)
    return _workers["handoff"]


@pytest.fixture
def rds(settings: Settings) -> Iterator[redis.Redis]:
    client = sync_redis(settings.redis_url)
    yield client
    client.close()
