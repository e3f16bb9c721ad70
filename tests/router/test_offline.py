"""Offline reassignment (R15): the pure rules, and offline.lua with presence.lua against a
throwaway redis-server (which tickets go back, when, once, and not if the agent came back)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from schemas.config import AccountDocument, load_account_yaml
from tests.conftest import MONDAY_OPEN
from workers.router.offline import (
    LEASE,
    MAX_IDLE,
    OfflineStore,
    due_at,
    goes_back,
    offline_since,
    release_order,
    sweep_offline,
)
from workers.router.store import RouterStore
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.tickets import TicketHash

ROOT = Path(__file__).resolve().parents[2]
T0 = MONDAY_OPEN
DELAY = 300
_prefixes = itertools.count()


def _ticket(number: int, **fields: str | None) -> TicketHash:
    values: dict[str, object] = {"ticket_id": f"t-{number}", "number": str(number),
                                 "status": "open", "created_at": "2026-11-23T10:00:00Z",
                                 "version": "1", "agent_id": "ag-2",
                                 "last_author": "customer"}
    values.update(fields)
    return msgspec.convert(values, TicketHash)


# --- the pure rules ---------------------------------------------------------------------


def test_offline_since_follows_presence() -> None:
    assert offline_since(None, 100.0, None) == 100.0  # explicit offline or logout
    assert offline_since(None, 100.0, 60) == 100.0
    assert offline_since(50.0, None, None) is None  # online, no timeout: online for good
    assert offline_since(50.0, None, 60) == 110.0  # no sign of life for the timeout
    assert offline_since(None, None, 60) is None  # never seen


def test_due_time_is_offline_time_plus_delay_and_off_without_setting() -> None:
    assert due_at(100.0, 300) == 400.0
    assert due_at(100.0, None) is None
    assert due_at(None, 300) is None
    assert due_at(offline_since(50.0, None, 60), 300) == 410.0


def test_only_open_tickets_still_theirs_whose_last_message_is_the_customers_go_back() -> None:
    assert goes_back(_ticket(1), "ag-2")
    assert not goes_back(_ticket(2, last_author="agent"), "ag-2")  # they answered last
    assert not goes_back(_ticket(3, last_author="ai"), "ag-2")
    assert not goes_back(_ticket(4, last_author=None), "ag-2")
    assert not goes_back(_ticket(5, status="snoozed"), "ag-2")
    assert not goes_back(_ticket(6, status="closed"), "ag-2")
    assert not goes_back(_ticket(7, agent_id="ag-3"), "ag-2")  # someone took it meanwhile


def test_released_tickets_are_offered_in_queue_order() -> None:
    tickets = [_ticket(1, priority="low"), _ticket(2), _ticket(3, priority="urgent"),
               _ticket(4, priority="high"), _ticket(5, priority=None)]
    assert [t.number for t in release_order(tickets)] == ["3", "4", "2", "5", "1"]


# --- the scripts --------------------------------------------------------------------------


class Lab:
    """One account's Redis under a prefix of its own, with the router's stores."""

    def __init__(self, client: aioredis.Redis, settings: Settings,
                 account: AccountDocument) -> None:
        self.client, self.settings, self.account = client, settings, account
        self.keys = Keys.of(settings)
        self.router = RouterStore(settings, client)
        self.offline = OfflineStore(settings, client)

    async def presence(self, agent: str, status: str, second: float) -> None:
        await self.router.set_presence(
            "acme", agent, status, T0 + timedelta(seconds=second),
            reassign_after=self.account.reassign_offline_after_seconds,
            presence_timeout=self.account.presence_timeout_seconds)

    async def ticket(self, number: int, agent: str, last_author: str, team: str = "shipping",
                     priority: str | None = None, status: str = "open") -> str:
        """A ticket as ingest and routing leave it, counted in the agent's load."""
        ticket_id = f"t-{number}"
        fields = {"ticket_id": ticket_id, "number": number, "status": status,
                  "created_at": "2026-11-23T10:00:00Z", "version": 1, "channel": "sms",
                  "agent_id": agent, "team_id": team, "last_author": last_author}
        if priority:
            fields["priority"] = priority
        if status == "open":
            fields.update(counted_agent=agent, counted_channel="sms")
            await self.client.sadd(self.keys.open_of("acme", agent), ticket_id)
            await self.client.hincrby(self.keys.load("acme", agent), "sms", 1)
        await self.client.hset(self.keys.ticket("acme", ticket_id), mapping=fields)
        await self.client.zadd(self.keys.status_view("acme", status), {ticket_id: number})
        return ticket_id

    async def claim(self, second: float) -> list | None:
        return await self.offline.claim(self.account, "ag-2", T0 + timedelta(seconds=second))

    async def due(self) -> float | None:
        return await self.client.zscore(self.keys.offline_due("acme"), "ag-2")

    async def agent_of(self, ticket_id: str) -> str | None:
        return await self.client.hget(self.keys.ticket("acme", ticket_id), "agent_id")


@pytest.fixture
async def lab(redis_url: str) -> AsyncIterator[Lab]:
    account = load_account_yaml((ROOT / "deploy" / "accounts" / "acme.yaml").read_text())
    account = msgspec.structs.replace(account, reassign_offline_after_seconds=DELAY,
                                      presence_timeout_seconds=None)
    settings = msgspec.structs.replace(Settings.from_env({}),
                                       redis_prefix=f"off{next(_prefixes)}")
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        yield Lab(client, settings, account)
    finally:
        await client.aclose()


async def test_fires_after_the_delay_not_before_and_only_customer_last_tickets_move(
        lab: Lab) -> None:
    await lab.presence("ag-3", "online", 0)  # shipping's other agent takes them
    waiting = await lab.ticket(1, "ag-2", "customer")
    answered = await lab.ticket(2, "ag-2", "agent")
    urgent = await lab.ticket(3, "ag-2", "customer", priority="urgent")
    snoozed = await lab.ticket(4, "ag-2", "customer", status="snoozed")
    await lab.presence("ag-2", "online", 0)
    await lab.presence("ag-2", "logout", 10)
    assert await lab.due() == T0.timestamp() + 10 + DELAY
    assert await lab.claim(10 + DELAY - 1) is None
    entries = await lab.claim(10 + DELAY)
    assert entries is not None
    assert [(e.ticket_id, e.agent_id, e.previous_agent_id, e.method, e.reason)
            for e in entries] == [(urgent, "ag-3", "ag-2", "backlog", "agent_offline"),
                                  (waiting, "ag-3", "ag-2", "backlog", "agent_offline")]
    assert entries[0].priority == "urgent"
    assert await lab.agent_of(answered) == "ag-2"  # they answered last: stays theirs
    assert await lab.agent_of(snoozed) == "ag-2"
    assert await lab.client.hget(lab.keys.load("acme", "ag-3"), "sms") == "2"
    assert await lab.client.smembers(lab.keys.open_of("acme", "ag-2")) == {answered}


async def test_agent_back_in_time_keeps_their_tickets(lab: Lab) -> None:
    await lab.presence("ag-3", "online", 0)
    ticket = await lab.ticket(1, "ag-2", "customer")
    await lab.presence("ag-2", "offline", 0)
    await lab.presence("ag-2", "online", DELAY - 1)
    assert await lab.due() is None
    assert await lab.claim(DELAY + 60) is None
    assert await lab.agent_of(ticket) == "ag-2"


async def test_one_claim_per_offline_episode_and_a_replay_after_a_lost_publication(
        lab: Lab) -> None:
    await lab.presence("ag-3", "online", 0)
    ticket = await lab.ticket(1, "ag-2", "customer")
    await lab.presence("ag-2", "offline", 0)
    first = await lab.claim(DELAY)
    assert first is not None and [e.ticket_id for e in first] == [ticket]
    assert await lab.claim(DELAY) is None  # another replica, same instant: leased
    # The claiming replica died before publishing: once the lease is over, the next sweep
    # gets the same entries (same event ids) and assigns nothing again.
    later = DELAY + LEASE.total_seconds()
    again = await lab.claim(later)
    assert again == first
    await lab.offline.published(lab.account, "ag-2", T0 + timedelta(seconds=later))
    assert await lab.due() is None
    history = await lab.client.lrange(lab.keys.history("acme", ticket), 0, -1)
    assert len(history) == 1


async def test_nobody_free_the_ticket_waits_unassigned_in_the_queue(lab: Lab) -> None:
    ticket = await lab.ticket(1, "ag-2", "customer")
    await lab.presence("ag-2", "offline", 0)
    entries = await lab.claim(DELAY)
    assert entries is not None
    assert [(e.agent_id, e.previous_agent_id, e.reason) for e in entries] == [
        (None, "ag-2", "agent_offline")]
    assert await lab.agent_of(ticket) is None
    assert await lab.client.zrange(lab.keys.queue("acme"), 0, -1) == [ticket]
    assert not await lab.client.exists(lab.keys.load("acme", "ag-2")) or (
        await lab.client.hget(lab.keys.load("acme", "ag-2"), "sms") == "0")


async def test_presence_timeout_counts_as_offline_from_the_last_sign_of_life(lab: Lab) -> None:
    lab.account = msgspec.structs.replace(lab.account, presence_timeout_seconds=120)
    await lab.presence("ag-3", "online", 0)
    ticket = await lab.ticket(1, "ag-2", "customer")
    await lab.presence("ag-2", "online", 0)
    await lab.presence("ag-2", "heartbeat", 30)
    assert await lab.due() == T0.timestamp() + 30 + 120 + DELAY
    await lab.presence("ag-3", "heartbeat", 30 + 120 + DELAY - 60)  # ag-3 is alive
    assert await lab.claim(30 + 120 + DELAY - 1) is None
    entries = await lab.claim(30 + 120 + DELAY)
    assert entries is not None and [(e.ticket_id, e.agent_id) for e in entries] == [
        (ticket, "ag-3")]


async def test_a_sign_of_life_the_sweep_missed_reschedules_instead_of_firing(lab: Lab) -> None:
    lab.account = msgspec.structs.replace(lab.account, presence_timeout_seconds=120)
    await lab.ticket(1, "ag-2", "customer")
    await lab.presence("ag-2", "online", 0)
    # Scheduled from the online; a heartbeat then moves the online score, and the due
    # entry is set back by hand to the old time (as if the sweep read it before).
    await lab.presence("ag-2", "heartbeat", 100)
    await lab.client.zadd(lab.keys.offline_due("acme"), {"ag-2": T0.timestamp() + 420})
    assert await lab.claim(420) is None
    assert await lab.due() == T0.timestamp() + 100 + 120 + DELAY


class _FlakyClock:
    """A Redis clock whose Redis is down for its first `down` reads."""

    def __init__(self, down: int) -> None:
        self.down, self.reads = down, 0

    async def now(self) -> datetime:
        self.reads += 1
        if self.reads <= self.down:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return T0


class _Passes:
    """Wake-ups that count the sweep's completed passes."""

    def __init__(self) -> None:
        self.passes = asyncio.Queue[float]()

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def clear(self) -> None: ...

    async def wait(self, seconds: float | None) -> None:
        await self.passes.put(seconds or 0.0)
        await asyncio.Event().wait()  # until cancelled: one pass is enough here


async def test_a_redis_outage_under_the_clock_is_waited_out_not_the_replicas_end(
        lab: Lab) -> None:
    """The sweep reads the clock from Redis (TICKETFLOW_CLOCK=redis): a Redis restart made
    the read fail, which stopped the router replica (the chaos run on Kafka saw it)."""
    clock, wakeups = _FlakyClock(down=2), _Passes()
    registry = SimpleNamespace(all=lambda: [lab.account])
    task = asyncio.create_task(sweep_offline(lab.offline, registry, clock,  # type: ignore[arg-type]
                                             wakeups, lambda outs: asyncio.sleep(0)))
    try:
        idle = await asyncio.wait_for(wakeups.passes.get(), 10)
        assert clock.reads == 3 and not task.done()
        assert 0 < idle <= MAX_IDLE.total_seconds()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
