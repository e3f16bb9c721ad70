"""Closer end-to-end fixtures: the controlled clock, ingest + closer replicas, and helpers
that act as the router does (publish `countdown.start`) and read the closer's outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.events import TicketMessage, TicketStatus
from schemas.internal import CountdownStart
from tests.messages import T0
from tests.pipeline import Pipeline
from workers.runtime.ids import event_id
from workers.runtime.settings import Settings

DAY = timedelta(days=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings with "now" read from Redis (TICKETFLOW_CLOCK=redis)."""
    return msgspec.structs.replace(settings, clock="redis")


class Harness:
    """The test acting as clock, router and observer of one pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        self.clock_key = pipeline.keys.clock()

    def set_clock(self, instant: datetime) -> None:
        """Move time, exactly as ControlledClock.set does (key + publish)."""
        self.p.redis.set(self.clock_key, repr(instant.timestamp()))
        self.p.redis.publish(self.clock_key, repr(instant.timestamp()))

    def message_ticket(self, message_id: str) -> str:
        """Wait until ingest threaded the message; its ticket id."""
        found = self.p.events.wait_for(
            lambda rs: any(isinstance(r, TicketMessage) and r.message_id == message_id
                           for r in rs), what=f"message {message_id} threaded")
        return next(r.ticket_id for r in found
                    if isinstance(r, TicketMessage) and r.message_id == message_id)

    def agent_replied(self, ticket_id: str, at: datetime, version: int | None = None,
                      account_id: str = "acme", partition: int | None = None) -> None:
        """Publish `countdown.start` as the router does for the first agent/AI reply, with
        the ticket's current activity version unless told otherwise."""
        if version is None:
            version = int(self.p.ticket(ticket_id, account_id)["version"])
        self.p.publish("timers", ticket_id, CountdownStart(
            event_id=event_id("countdown.start", ticket_id, version, at.isoformat()),
            account_id=account_id, ticket_id=ticket_id, version=version, started_at=at),
            partition=partition)

    def wait_redis(self, predicate: Callable[[], bool], what: str,
                   timeout_s: float = 30.0) -> None:
        """Wait until Redis shows the closer applied a record (an observable state)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not seen within {timeout_s}s")
            time.sleep(0.01)

    def countdown(self, ticket_id: str) -> str | None:
        return self.p.redis.hget(self.p.keys.countdowns("acme"), ticket_id)

    def wait_countdown(self, ticket_id: str, version: int | None = None) -> None:
        """Wait until the closer holds a countdown for the ticket (at that version)."""
        def held() -> bool:
            stored = self.countdown(ticket_id)
            return stored is not None and (version is None
                                           or stored.split(" ")[0] == str(version))
        self.wait_redis(held, f"countdown of {ticket_id}")

    def closes(self) -> list[TicketStatus]:
        return [r for r in self.p.events.records
                if isinstance(r, TicketStatus) and r.reason == "inactivity"]

    def wait_closed(self, *ticket_ids: str) -> list[TicketStatus]:
        """Wait for an inactivity close of every ticket named; all closes seen so far."""
        wanted = set(ticket_ids)
        self.p.events.wait_for(
            lambda rs: wanted <= {r.ticket_id for r in rs if isinstance(r, TicketStatus)
                                  and r.reason == "inactivity"},
            what=f"inactivity close of {sorted(wanted)}")
        return self.closes()

    def closed_ids(self) -> set[str]:
        return {c.ticket_id for c in self.closes()}


@pytest.fixture
def harness(pipeline: Pipeline) -> Harness:
    h = Harness(pipeline)
    h.set_clock(T0)  # before any worker starts, so no real "now" is ever seen
    return h


def start_all(*workers: WorkerProcess) -> None:
    """Start replicas together (group joins run in parallel) and wait until each is in."""
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_for_log(r"partitions assigned: [1-9]", 60)


@pytest.fixture
def workers(harness: Harness) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """One ingest and one closer replica, both joined."""
    ingest = WorkerProcess("ingest", harness.p.settings)
    closer = WorkerProcess("closer", harness.p.settings)
    start_all(ingest, closer)
    yield ingest, closer
    for worker in (ingest, closer):
        worker.sigterm()


@pytest.fixture
def closer(workers: tuple[WorkerProcess, WorkerProcess]) -> WorkerProcess:
    return workers[1]
