"""The waiting queue's scripts (R12): a queue per channel, which a drain walks only where
someone has room, tickets queued before the channel queues existed filed into theirs on the
next drain, and transfers that find nobody eligible waiting in the team's queue.
Real redis-server, the router's and ingest's real scripts; no broker."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from schemas.agent_app import TransferCommand
from schemas.config import AccountDocument, AgentConfig, Capacity, TeamConfig
from schemas.inbound import EmailMessage, SmsMessage
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.router.commands import decide_transfer
from workers.router.decide import plan_new_ticket
from workers.router.opening import drain_freed, drain_pools
from workers.router.rules import TicketFacts
from workers.router.store import RouterStore
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_prefixes = itertools.count()


def _account(version: int, sms: int, email: int) -> AccountDocument:
    return AccountDocument(
        account_id="acme", version=version, round_robin=True, business_hours=None,
        presence_timeout_seconds=None, assignment_method="balanced",
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@acme.example",
                            role="support", capacity=Capacity(sms=sms, email=email))
                for i in range(2)])


class Lab:
    def __init__(self, client: Any, settings: Settings) -> None:
        self.client, self.keys = client, Keys.of(settings)
        self.ingest, self.router = IngestStore(settings, client), RouterStore(settings, client)

    async def open_and_route(self, account: AccountDocument, channels: list[str]) -> list[str]:
        """One ticket per channel named, in that order, each routed as the router does."""
        messages: list[Any] = []
        for n, channel in enumerate(channels):
            if channel == "sms":
                messages.append(SmsMessage(
                    account_id="acme", message_id=f"m{n}", from_number=f"+1555{n:07d}",
                    to_number="+15557654321", body="Where is my order?", received_at=T0))
            else:
                messages.append(EmailMessage(
                    account_id="acme", message_id=f"m{n}", from_email=f"c{n}@example.com",
                    to_email="help@acme.example", text="Where is my order?",
                    received_at=T0))
        outcomes = await self.ingest.thread_messages([plan_threading(m) for m in messages])
        ids = [o.ticket_id for o in outcomes]
        steps = [(account, self.router.route_step(
            t, plan_new_ticket(account, TicketFacts(channel=c, body="Where is my order?"),
                               open_now=True), f"ev-{t}"))
            for t, c in zip(ids, channels, strict=True)]
        await self.router.route_and_read(steps, T0)
        return ids

    async def queue(self, channel: str | None = None) -> list[tuple[str, float]]:
        key = (self.keys.queue("acme") if channel is None
               else self.keys.channel_queue("acme", channel))
        return await self.client.zrange(key, 0, -1, withscores=True)


@pytest.fixture
async def lab(redis_url: str) -> AsyncIterator[Lab]:
    settings = msgspec.structs.replace(Settings.from_env({}), redis_url=redis_url,
                                       redis_prefix=f"chq{next(_prefixes)}")
    client = connect(settings)
    try:
        lab = Lab(client, settings)
        for i in range(2):
            await lab.router.set_presence("acme", f"a{i}", "online", T0)
        yield lab
    finally:
        await client.aclose()


async def test_waiting_tickets_are_in_their_channels_queue_and_a_drain_takes_only_those(
        lab: Lab) -> None:
    full = _account(1, sms=0, email=0)
    channels = ["sms", "email", "sms", "sms", "email", "sms", "sms", "email", "sms"]
    ids = await lab.open_and_route(full, channels)
    sms = [t for t, c in zip(ids, channels, strict=True) if c == "sms"]
    email = [t for t, c in zip(ids, channels, strict=True) if c == "email"]
    everyone = await lab.queue()
    assert [t for t, _ in everyone] == ids  # all wait, in arrival order (same priority)
    assert await lab.queue("sms") == [p for p in everyone if p[0] in sms]
    assert await lab.queue("email") == [p for p in everyone if p[0] in email]

    # Two SMS places each: four SMS tickets, the oldest, leave both queues; email waits.
    drained = await drain_freed(lab.router, _account(2, sms=2, email=0), trigger="raise-sms",
                                at=T0, now=T0)
    assert [e.ticket_id for e in drained] == sms[:4]
    assert {e.agent_id for e in drained} == {"a0", "a1"}
    assert [t for t, _ in await lab.queue("sms")] == sms[4:]
    assert [t for t, _ in await lab.queue("email")] == email
    assert [t for t, _ in await lab.queue()] == [t for t in ids if t in sms[4:] + email]


async def test_tickets_queued_before_the_channel_queues_are_filed_and_drained(
        lab: Lab) -> None:
    full = _account(1, sms=0, email=0)
    channels = ["email", "sms", "email", "email"]
    ids = await lab.open_and_route(full, channels)
    email = [t for t, c in zip(ids, channels, strict=True) if c == "email"]
    # As a router of the previous release left them: in the account's queue only.
    await lab.client.delete(lab.keys.channel_queue("acme", "email"),
                            lab.keys.channel_queue("acme", "sms"))

    drained = await drain_freed(lab.router, _account(2, sms=0, email=1),
                                trigger="raise-email", at=T0, now=T0)
    assert [e.ticket_id for e in drained] == email[:2]
    assert [t for t, _ in await lab.queue("email")] == email[2:]
    assert [t for t, _ in await lab.queue("sms")] == [ids[1]]
    assert [t for t, _ in await lab.queue()] == [ids[1], email[2]]


def _teams(version: int = 1) -> AccountDocument:
    """billing (a0) and shipping (a1, a2), shipping picking an agent on transfer; capacity
    one SMS each."""
    return AccountDocument(
        account_id="acme", version=version, round_robin=True, business_hours=None,
        presence_timeout_seconds=None, assignment_method="round_robin",
        teams=[TeamConfig(id="billing", name="Billing"),
               TeamConfig(id="shipping", name="Shipping", auto_assign_on_transfer=True)],
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@acme.example",
                            role="admin", teams=[team], capacity=Capacity(sms=1))
                for i, team in enumerate(["billing", "shipping", "shipping"])])


async def _transfer(lab: Lab, account: AccountDocument, ticket_id: str, team: str,
                    n: int) -> Any:
    step = decide_transfer(account, TransferCommand(
        account_id="acme", command_id=f"tr-{n}", ticket_id=ticket_id, actor_id="a0",
        team_id=team, at=T0), T0)
    return await lab.router.assign(account, step)


async def test_a_transfer_nobody_in_the_team_can_take_waits_in_its_queue(lab: Lab) -> None:
    account = _teams()
    await lab.router.set_presence("acme", "a2", "offline", T0)  # a1 online, a2 not
    first, second = await lab.open_and_route(account, ["sms", "sms"])  # a0 and a1 take them
    moved = await _transfer(lab, account, first, "shipping", 1)
    # a1 is full (capacity 1), a2 offline: nobody eligible, so it waits, not just unassigned
    assert (moved.team_id, moved.agent_id, moved.method) == ("shipping", None, "transfer")
    assert [t for t, _ in await lab.queue()] == [first]
    assert [t for t, _ in await lab.queue("sms")] == [first]
    assert await lab.client.zrange(lab.keys.backlog("acme", "shipping"), 0, -1) == [first]

    # a2 comes online: the drain of shipping's queue (R12 agent_online) gives it to them.
    await lab.router.set_presence("acme", "a2", "online", T0)
    drained = await drain_pools(lab.router, account, ["shipping"], trigger="a2-online",
                                reason="agent_online", at=T0, now=T0)
    assert [(e.ticket_id, e.team_id, e.agent_id, e.method) for e in drained] == [
        (first, "shipping", "a2", "backlog")]
    assert await lab.queue() == []


async def test_a_waiting_ticket_transferred_leaves_the_queue_it_waited_in(lab: Lab) -> None:
    account = _teams()
    for agent in ("a0", "a1", "a2"):
        await lab.router.set_presence("acme", agent, "offline", T0)
    first, second = await lab.open_and_route(account, ["sms", "sms"])
    assert [t for t, _ in await lab.queue()] == [first, second]  # nobody online: both wait
    # To billing, which picks nobody on transfer: unassigned in billing, no longer waiting
    # for the account's agents (else an agent of another team would get it from the queue).
    billing = await _transfer(lab, account, first, "billing", 2)
    assert (billing.team_id, billing.agent_id) == ("billing", None)
    assert [t for t, _ in await lab.queue()] == [second]
    assert await lab.client.zrange(lab.keys.backlog("acme", "_account"), 0, -1) == [second]
    await lab.router.set_presence("acme", "a1", "online", T0)
    moved = await _transfer(lab, account, second, "shipping", 3)  # to shipping: a1 picked
    assert (moved.team_id, moved.agent_id) == ("shipping", "a1")
    assert await lab.queue() == [] and await lab.queue("sms") == []
