"""The sample agents of `make run`: they sign in, send heartbeats, take breaks and close
their tickets, as people in the agent app would, so places free up and the queue moves.

The schedule is a pure function of the agent's place in the document and the time since
the start, repeating every `CYCLE_S`: the second agent signs out for a while (their waiting
tickets go back to the queue, R15, then the queue refills them when they are back), the
third goes quiet without signing out (away: past the presence timeout routing counts them
offline, R3), the others stay online.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from schemas.agent_app import Presence, PresenceStatus, SetStatusCommand
from schemas.codec import encode
from schemas.config import AccountDocument
from workers.router.views import list_tickets
from workers.runtime.kafka import make_producer
from workers.runtime.settings import Settings
from workers.state.store import connect

Planned = Literal["online", "away", "offline"]
CYCLE_S = 90.0
HEARTBEAT_EVERY_S = 5.0
SIGNED_OUT = (40.0, 60.0)
"""When, in each cycle, the second agent of a document is signed out."""
QUIET = (15.0, 50.0)
"""When, in each cycle, the third agent sends no heartbeat."""
CLOSE_EVERY_S = 1.0
CLOSE_CHANCE = 0.35
"""Each online agent with open tickets closes their oldest one with this chance each
second: about the pace at which the sample customers open new tickets."""


def planned_presence(index: int, elapsed_s: float) -> Planned:
    """Where agent number `index` (document order) stands `elapsed_s` after the start."""
    at = elapsed_s % CYCLE_S
    if index == 1 and SIGNED_OUT[0] <= at < SIGNED_OUT[1]:
        return "offline"
    if index == 2 and QUIET[0] <= at < QUIET[1]:
        return "away"
    return "online"


def presence_record(before: Planned | None, now: Planned) -> PresenceStatus | None:
    """The presence record an agent app sends on a tick, or None for none: `online` on
    signing in, `heartbeat` while online, `offline` once on signing out, silence away."""
    if now == "online":
        return "heartbeat" if before == "online" else "online"
    if now == "offline" and before != "offline":
        return "offline"
    return None


async def keep_presence(settings: Settings, accounts: Sequence[AccountDocument],
                        started: float) -> None:
    """Publish each agent's presence records by the schedule, every heartbeat interval."""
    producer = make_producer(settings)
    await producer.start()
    before: dict[tuple[str, str], Planned] = {}
    try:
        while True:
            elapsed = time.monotonic() - started
            for account in accounts:
                for index, agent in enumerate(account.agents):
                    now = planned_presence(index, elapsed)
                    status = presence_record(before.get((account.account_id, agent.id)), now)
                    before[(account.account_id, agent.id)] = now
                    if status is not None:
                        await producer.send(settings.topic("agents.presence"), encode(Presence(
                            account_id=account.account_id, agent_id=agent.id,
                            actor_id=agent.id, status=status, at=datetime.now(UTC))),
                            key=agent.id.encode())
            await asyncio.sleep(HEARTBEAT_EVERY_S)
    finally:
        await producer.stop()


async def close_tickets(settings: Settings, accounts: Sequence[AccountDocument],
                        started: float, seed: int = 7) -> None:
    """Every second, each online agent may close their oldest open ticket (a
    `set_status` command, as the agent app sends), which frees a place (R11, R12)."""
    rng = random.Random(seed)
    producer = make_producer(settings)
    await producer.start()
    client = connect(settings)
    asked: dict[str, float] = {}  # ticket -> when its close was sent, until it has applied
    try:
        while True:
            await asyncio.sleep(CLOSE_EVERY_S)
            elapsed = time.monotonic() - started
            asked = {t: at for t, at in asked.items() if at > elapsed - 10 * CLOSE_EVERY_S}
            for account in accounts:
                rows = await list_tickets(client, settings, account.account_id, "all")
                oldest: dict[str, str] = {}
                for row in rows:  # oldest first
                    if row.agent_id is not None and row.ticket_id not in asked:
                        oldest.setdefault(row.agent_id, row.ticket_id)
                for index, agent in enumerate(account.agents):
                    ticket_id = oldest.get(agent.id)
                    if (ticket_id is None or planned_presence(index, elapsed) != "online"
                            or rng.random() >= CLOSE_CHANCE):
                        continue
                    asked[ticket_id] = elapsed
                    await producer.send(settings.topic("tickets.commands"), encode(
                        SetStatusCommand(command_id=str(uuid.uuid4()),
                                         account_id=account.account_id, actor_id=agent.id,
                                         at=datetime.now(UTC), ticket_id=ticket_id,
                                         status="closed")), key=ticket_id.encode())
    finally:
        await client.aclose()
        await producer.stop()
