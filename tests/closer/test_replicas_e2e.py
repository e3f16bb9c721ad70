"""C6 and X1 for the closer: two replicas, one SIGKILLed while timers are due. Every due
ticket is closed exactly once and none early."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.events import TicketMessage, TicketStatus
from tests.closer.conftest import DAY, Harness, start_all
from tests.messages import at, sms
from workers.closer.countdowns import CountdownStore
from workers.closer.firing import LEASE
from workers.state.store import connect

pytestmark = pytest.mark.e2e

TICKETS = 150


def test_two_replicas_and_a_sigkill_close_each_due_ticket_once(harness: Harness) -> None:
    p = harness.p
    ingest = WorkerProcess("ingest", p.settings)
    replicas = [WorkerProcess("closer", p.settings) for _ in range(2)]
    start_all(ingest, *replicas)
    try:
        messages = [sms(from_number=f"+1555100{i:04d}") for i in range(TICKETS)]
        p.publish_many([("inbound.sms", m.from_number, encode(m)) for m in messages])
        p.events.wait_for(lambda rs: sum(isinstance(r, TicketMessage) for r in rs) >= TICKETS,
                          what="every ticket created")
        ticket_of = {r.message_id: r.ticket_id for r in p.events.of_type(TicketMessage)}
        tickets = [ticket_of[m.message_id] for m in messages]
        due = {t: at(i) + 2 * DAY for i, t in enumerate(tickets)}  # one a second
        for i, ticket in enumerate(tickets):
            harness.agent_replied(ticket, at(i))
        harness.wait_redis(lambda: p.redis.hlen(p.keys.countdowns("acme")) == TICKETS,
                           "every countdown held")

        harness.set_clock(at(49) + 2 * DAY)
        harness.wait_closed(*tickets[:50])
        harness.set_clock(at(99) + 2 * DAY)
        replicas[0].sigkill()  # while the next 50 are due and being fired
        harness.set_clock(at(TICKETS - 1) + 2 * DAY)
        # Closes the killed replica claimed but did not publish come back after the lease.
        harness.set_clock(at(TICKETS - 1) + 2 * DAY + LEASE + timedelta(seconds=1))
        harness.wait_closed(*tickets)
        harness.wait_redis(lambda: p.redis.zcard(p.keys.closing("acme")) == 0,
                           "every close acknowledged")
        events = p.events.drain()
    finally:
        for worker in (ingest, *replicas):
            worker.sigkill()

    close_ids: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if isinstance(e, TicketStatus) and e.reason == "inactivity":
            close_ids[e.ticket_id].add(e.event_id)
            assert e.at >= due[e.ticket_id], f"{e.ticket_id} closed early"
    assert set(close_ids) == set(tickets)
    assert all(len(ids) == 1 for ids in close_ids.values()), "a ticket closed twice"
    notes = [e for e in events if isinstance(e, TicketMessage) and e.author_kind == "system"]
    assert {n.ticket_id for n in notes} == set(tickets)
    assert all(p.ticket(t)["status"] == "closed" for t in tickets)
    assert p.redis.zcard(p.keys.status_view("acme", "closed")) == TICKETS
    assert p.redis.zcard(p.keys.timers("acme")) == 0


def test_close_claimed_by_a_replica_that_died_before_publishing_is_republished(
        harness: Harness, closer: WorkerProcess) -> None:
    p = harness.p
    m = sms(from_number="+15551009999")
    p.publish("inbound.sms", m.from_number, m)
    ticket = harness.message_ticket(m.message_id)
    harness.agent_replied(ticket, at(60))
    harness.wait_countdown(ticket)
    deadline = at(60) + 2 * DAY

    async def claim_without_publishing() -> None:
        """What a replica does right up to the publish, then it dies."""
        client = connect(p.settings)
        try:
            store = CountdownStore(p.settings, client)
            (due,) = await store.due("acme", (deadline - 2 * DAY).timestamp(), 10)
            pipe = store.pipeline()
            await store.close(pipe, "acme", due, deadline, (deadline + LEASE).timestamp())
            (member,) = await pipe.execute()
            assert member is not None
        finally:
            await client.aclose()

    asyncio.run(claim_without_publishing())
    assert p.ticket(ticket)["status"] == "closed"
    marker = sms(from_number="+15551009998")
    p.publish("inbound.sms", marker.from_number, marker)
    marker_ticket = harness.message_ticket(marker.message_id)
    harness.agent_replied(marker_ticket, deadline + LEASE - 2 * DAY - timedelta(seconds=1))
    harness.wait_countdown(marker_ticket)
    harness.set_clock(deadline + LEASE - timedelta(seconds=1))  # lease not over yet
    harness.wait_closed(marker_ticket)
    assert ticket not in harness.closed_ids()
    harness.set_clock(deadline + LEASE)
    closes = {c.ticket_id: c for c in harness.wait_closed(ticket)}
    # Re-published as the dead replica would have: its close time, its ids.
    assert closes[ticket].at == deadline and closes[ticket].previous_status == "open"
    harness.wait_redis(lambda: p.redis.zcard(p.keys.closing("acme")) == 0, "acknowledged")
    statuses = [e for e in p.events.drain() if isinstance(e, TicketStatus)
                and e.ticket_id == ticket]
    assert len(statuses) == 1
