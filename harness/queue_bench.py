"""`ticketflow bench-queue`: what the queue (R12) costs per ticket, in process, on a fresh
redis-server.

Tickets are opened by ingest's real script, then routed by the router's real route step
(`RouterStore.route_and_read`, batches as the router sends them) three times: to agents
with no capacity (plain round robin), to agents with room under capacity (balanced), and to
agents whose every place is taken (capacity 0: each ticket joins the queue). Then a
capacity raise frees places and the drain (`drain_freed`, up to 1,000 tickets per script
call) assigns the waiting tickets. A waiting ticket's route step plus its share of the
drain, less a direct assignment's route step, is what the queue costs per ticket.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from harness.embedded import RedisServer
from schemas.config import AccountDocument, AgentConfig, Capacity
from schemas.inbound import SmsMessage
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.router.decide import plan_new_ticket
from workers.router.opening import drain_freed
from workers.router.rules import TicketFacts
from workers.router.store import RouterStore, Step
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect
from workers.state.tickets import TicketStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BATCH = 500
AGENTS = 5
FREED = 50
"""Places freed one at a time (a close, then its drain) behind a long queue."""


def _account(account_id: str, capacity: int | None, method: str) -> AccountDocument:
    """Five support agents, always open, no presence timeout; `capacity` SMS each (None:
    unlimited)."""
    return AccountDocument(
        account_id=account_id, version=1, round_robin=True, business_hours=None,
        presence_timeout_seconds=None, assignment_method=method,  # type: ignore[arg-type]
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@bench.example",
                            role="support", capacity=Capacity(sms=capacity))
                for i in range(AGENTS)])


async def _open_tickets(ingest: IngestStore, account_id: str, count: int) -> list[str]:
    messages = [SmsMessage(account_id=account_id, message_id=f"{account_id}-{n}",
                           from_number=f"+1555{n:07d}", to_number="+15557654321",
                           body="Where is my order?", received_at=T0) for n in range(count)]
    ids: list[str] = []
    for first in range(0, count, BATCH):
        outcomes = await ingest.thread_messages(
            [plan_threading(m) for m in messages[first:first + BATCH]])
        ids += [o.ticket_id for o in outcomes]
    return ids


async def _route(store: RouterStore, account: AccountDocument, tickets: list[str]) -> float:
    """Seconds to route `tickets` through the route step, `BATCH` per call."""
    plan = plan_new_ticket(account, TicketFacts(channel="sms", body="Where is my order?"),
                           open_now=True)
    started = time.perf_counter()
    for first in range(0, len(tickets), BATCH):
        steps: list[tuple[AccountDocument, Step]] = [
            (account, store.route_step(t, plan, f"ev-{t}")) for t in tickets[first:first + BATCH]]
        await store.route_and_read(steps, T0)
    return time.perf_counter() - started


async def _measure(settings: Settings, tickets: int) -> dict[str, float]:
    client: Any = connect(settings)
    ingest, store = IngestStore(settings, client), RouterStore(settings, client)
    try:
        free = _account("free", None, "round_robin")
        room = _account("room", tickets, "balanced")
        full = _account("full", 0, "balanced")
        for account in (free, room, full):
            for i in range(AGENTS):
                await store.set_presence(account.account_id, f"a{i}", "online", T0)
        free_ids = await _open_tickets(ingest, "free", tickets)
        room_ids = await _open_tickets(ingest, "room", tickets)
        full_ids = await _open_tickets(ingest, "full", tickets)
        free_s = await _route(store, free, free_ids)
        room_s = await _route(store, room, room_ids)
        full_s = await _route(store, full, full_ids)
        queued = await store.queue_size("full")
        raised = msgspec.structs.replace(full, version=2, agents=[
            msgspec.structs.replace(a, capacity=Capacity(sms=tickets)) for a in full.agents])
        drained: list[Any] = []
        started = time.perf_counter()
        while await store.queue_size("full"):  # each drain call is its own trigger (mark)
            drained += await drain_freed(store, raised, trigger=f"bench-{len(drained)}",
                                         at=T0, now=T0)
        drain_s = time.perf_counter() - started
        left = await store.queue_size("full")
        freed_us = await _one_place_at_a_time(settings, client, ingest, store, tickets)
    finally:
        await client.aclose()
    return {"freed_drain_us": freed_us, "route_us": free_s / tickets * 1e6,
            "route_room_us": room_s / tickets * 1e6, "route_queued_us": full_s / tickets * 1e6,
            "queued": float(queued), "drained": float(len(drained)), "left": float(left),
            "drain_us": drain_s / max(1, len(drained)) * 1e6}


async def _one_place_at_a_time(settings: Settings, client: Any, ingest: IngestStore,
                               store: RouterStore, tickets: int) -> float:
    """Every agent holds one ticket (capacity 1) and `tickets` wait; `FREED` times a held
    ticket closes and the drain assigns the one place it freed: microseconds per drain
    (what the router spends per freed place behind a queue that long)."""
    account = _account("one", 1, "balanced")
    for i in range(AGENTS):
        await store.set_presence("one", f"a{i}", "online", T0)
    await _route(store, account, await _open_tickets(ingest, "one", tickets + AGENTS))
    status, keys = TicketStore(settings, client), Keys.of(settings)
    spent = 0.0
    for n in range(FREED):
        agent = f"a{n % AGENTS}"
        held = next(iter(await client.smembers(keys.open_of("one", agent))))
        await status.set_status("one", held, "closed", at=T0)
        started = time.perf_counter()
        drained = await drain_freed(store, account, trigger=f"close-{n}", at=T0, now=T0)
        spent += time.perf_counter() - started
        assert len(drained) == 1, drained
    return spent / FREED * 1e6


def bench_queue(tickets: int) -> dict[str, float]:
    """Route `tickets` to free agents and to full ones, then drain the full ones' queue;
    print microseconds per ticket of each."""
    with tempfile.TemporaryDirectory(prefix="tf-queue-bench-") as tmp:
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        try:
            settings = Settings(redis_url=redis.url)
            figures = asyncio.run(_measure(settings, tickets))
        finally:
            redis.stop()
    waited = figures["route_queued_us"] + figures["drain_us"]
    figures["queue_us"] = waited - figures["route_room_us"]
    click.echo(f"route step, {tickets} SMS tickets per case, batches of {BATCH}, 5 agents: "
               f"assigned {figures['route_us']:.1f} us/ticket (no capacity, round robin), "
               f"assigned {figures['route_room_us']:.1f} us/ticket (capacity with room, "
               f"balanced), queued {figures['route_queued_us']:.1f} us/ticket (every agent "
               f"full)")
    click.echo(f"drain after a capacity raise: {figures['drained']:.0f} of "
               f"{figures['queued']:.0f} waiting tickets assigned (backlog), "
               f"{figures['drain_us']:.1f} us/ticket; {figures['left']:.0f} left waiting")
    click.echo(f"one freed place behind {tickets} waiting tickets (capacity 1, a close "
               f"then its drain, {FREED} times): {figures['freed_drain_us']:.0f} us per drain "
               f"of one ticket")
    click.echo(f"cost of the queue: a ticket that waits then drains takes {waited:.1f} us "
               f"against {figures['route_room_us']:.1f} us assigned at once: "
               f"{figures['queue_us']:+.1f} us/ticket")
    return figures
