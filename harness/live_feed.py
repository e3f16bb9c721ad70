"""What the live view of `make run` reads, and its redraw loop (X2).

The events topic is followed once for both outputs (`follow_events`): the plain lines and
the live view's rates and last assignments (`EventTally`). Agents and the queue are read
from Redis through the router's own views (`list_agents`, `list_waiting`) every half
second, so the view shows what `ticketflow agents` and the unassigned view would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from harness.live_screen import Screen
from harness.live_view import AccountView, AssignmentLine, LiveSnapshot, Rates, render
from schemas.codec import decode
from schemas.config import AccountDocument
from schemas.events import TicketAssigned, TicketCreated, TicketStatus
from workers.router.agents_view import list_agents
from workers.router.views import list_waiting
from workers.runtime.clock import make_clock
from workers.runtime.kafka import make_reader, partitions_of
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect

REDRAW_EVERY_S = 0.5


class RollingRate:
    """Events per second over the last `window_s` seconds (monotonic times given)."""

    def __init__(self, window_s: float, started: float) -> None:
        self.window_s = window_s
        self.started = started
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        self._times.append(now)

    def per_s(self, now: float) -> float:
        """The rate over the window, or over the time since the start while shorter."""
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        span = min(self.window_s, now - self.started)
        return len(self._times) / span if span > 0 else 0.0


class EventTally:
    """What `tickets.events` said so far: rolling rates, totals, the last assignments."""

    def __init__(self, started: float, window_s: float = 10.0, keep: int = 60) -> None:
        self.window_s = window_s
        self._created = RollingRate(window_s, started)
        self._routed = RollingRate(window_s, started)
        self._closed = RollingRate(window_s, started)
        self.totals = {"created": 0, "routed": 0, "from_queue": 0, "closed": 0}
        self.assignments: deque[AssignmentLine] = deque(maxlen=keep)

    def add(self, event: object, now: float, wall: datetime) -> None:
        """Count one decoded event read at monotonic `now`, wall-clock `wall`."""
        if isinstance(event, TicketCreated):
            self._created.add(now)
            self.totals["created"] += 1
        elif isinstance(event, TicketAssigned):
            if event.agent_id is not None:
                self._routed.add(now)
                self.totals["routed"] += 1
                self.totals["from_queue"] += event.method == "backlog"
            self.assignments.appendleft(AssignmentLine(
                at=wall.strftime("%H:%M:%S"), account_id=event.account_id,
                ticket_id=event.ticket_id, team_id=event.team_id, agent_id=event.agent_id,
                method=event.method, reason=event.reason, priority=event.priority))
        elif isinstance(event, TicketStatus) and event.status == "closed":
            self._closed.add(now)
            self.totals["closed"] += 1

    def rates(self, now: float) -> Rates:
        return Rates(window_s=self.window_s, created_per_s=self._created.per_s(now),
                     routed_per_s=self._routed.per_s(now), closed_per_s=self._closed.per_s(now),
                     **self.totals)


async def follow_events(settings: Settings, stop: asyncio.Event,
                        handle: Callable[[object], None]) -> None:
    """Hand every `tickets.events` record, decoded, to `handle` until `stop` is set."""
    reader = make_reader(settings)
    await reader.start()
    try:
        topic = settings.topic("tickets.events")
        await reader.topics()
        tps = await partitions_of(reader, topic)  # Kafka's first metadata names no topic
        reader.assign(tps)
        while not stop.is_set():
            batch = await reader.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    handle(decode("tickets.events", record.value))
    finally:
        await reader.stop()


async def read_accounts(client: Any, settings: Settings,
                        accounts: Sequence[AccountDocument]) -> list[AccountView]:
    """Each account's agents and waiting tickets, as the router's views read them."""
    now = await make_clock(settings.clock, client, key=Keys.of(settings).clock()).now()
    return [AccountView(account_id=account.account_id,
                        assignment_method=account.assignment_method,
                        agents=await list_agents(client, settings, account, now),
                        waiting=await list_waiting(client, settings, account.account_id))
            for account in accounts]


async def show_live(settings: Settings, accounts: Sequence[AccountDocument],
                    stop: asyncio.Event, screen: Screen, warnings: deque[str]) -> EventTally:
    """Redraw the live view every half second until `stop` is set; returns the tally."""
    started = time.monotonic()
    tally = EventTally(started)
    events = asyncio.create_task(follow_events(
        settings, stop, lambda event: tally.add(event, time.monotonic(), datetime.now(UTC))))
    client = connect(settings)
    try:
        with screen:
            while not stop.is_set() and not events.done():
                now = time.monotonic()
                snapshot = LiveSnapshot(
                    broker=settings.kafka_bootstrap, redis=settings.redis_url,
                    uptime_s=now - started, accounts=await read_accounts(client, settings,
                                                                         accounts),
                    rates=tally.rates(now), assignments=list(tally.assignments),
                    warnings=list(warnings))
                width, height = screen.size()
                screen.draw(render(snapshot, width, height, screen.unlimited))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REDRAW_EVERY_S)
    finally:
        await client.aclose()
        if not events.done():
            stop.set()
        (outcome,) = await asyncio.gather(events, return_exceptions=True)
    if isinstance(outcome, Exception):  # the events reader failed: say why
        raise outcome
    return tally
