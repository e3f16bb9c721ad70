"""The queue per channel (R12): a drain walks only the channels someone has room on, and
tickets queued before the channel queues existed are filed into theirs on the next drain.
Real redis-server, the router's and ingest's real scripts; no broker."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from schemas.config import AccountDocument, AgentConfig, Capacity
from schemas.inbound import EmailMessage, SmsMessage
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.router.decide import plan_new_ticket
from workers.router.opening import drain_freed
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
                               open_now=True), f"ev-{t}")) for t, c in zip(ids, channels)]
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
    sms = [t for t, c in zip(ids, channels) if c == "sms"]
    email = [t for t, c in zip(ids, channels) if c == "email"]
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
    email = [t for t, c in zip(ids, channels) if c == "email"]
    # As a router of the previous release left them: in the account's queue only.
    await lab.client.delete(lab.keys.channel_queue("acme", "email"),
                            lab.keys.channel_queue("acme", "sms"))

    drained = await drain_freed(lab.router, _account(2, sms=0, email=1),
                                trigger="raise-email", at=T0, now=T0)
    assert [e.ticket_id for e in drained] == email[:2]
    assert [t for t, _ in await lab.queue("email")] == email[2:]
    assert [t for t, _ in await lab.queue("sms")] == [ids[1]]
    assert [t for t, _ in await lab.queue()] == [ids[1], email[2]]
