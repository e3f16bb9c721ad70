"""One script call routes a whole batch per account: route and read steps of several
accounts, interleaved, come back in batch order, each account keeps its own rotation, and
a ticket routed twice in one batch keeps its first decision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.config import AccountDocument, AgentConfig
from schemas.events import TicketAssigned
from tests.messages import sms
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.router.decide import plan_new_ticket
from workers.router.rules import TicketFacts
from workers.router.store import ReadStep, RouterStore, Step
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect
from workers.state.tickets import TicketStore

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def account(account_id: str) -> AccountDocument:
    return AccountDocument(account_id=account_id, version=1, round_robin=True, agents=[
        AgentConfig(id=f"{account_id}-{i}", name=f"A{i}", email=f"{i}@{account_id}.example",
                    role="support") for i in range(2)])


async def test_interleaved_accounts_keep_order_rotation_and_first_decision(
        settings: Settings) -> None:
    acme, beta = account("acme"), account("beta")
    client = connect(settings)
    try:
        for doc in (acme, beta):
            await client.zadd(Keys.of(settings).online(doc.account_id),
                              {a.id: NOW.timestamp() for a in doc.agents})
        messages = [sms(account_id="acme", from_number="+15550000001"),
                    sms(account_id="beta", from_number="+15550000001"),
                    sms(account_id="acme", from_number="+15550000002")]
        a1, b1, a2 = await IngestStore(settings, client).thread_messages(
            [plan_threading(m) for m in messages])
        store = RouterStore(settings, client)
        plan = plan_new_ticket(acme, TicketFacts(channel="sms"), open_now=True)
        beta_plan = plan_new_ticket(beta, TicketFacts(channel="sms"), open_now=True)
        steps: list[tuple[AccountDocument, Step]] = [
            (acme, store.route_step(a1.ticket_id, plan, "e-a1")),
            (beta, store.route_step(b1.ticket_id, beta_plan, "e-b1")),
            (acme, ReadStep(a1.ticket_id)),
            (acme, store.route_step(a2.ticket_id, plan, "e-a2")),
            (acme, store.route_step(a1.ticket_id, plan, "e-a1-again")),
            (beta, store.route_step("t-nowhere", beta_plan, "e-missing")),
        ]
        results = await store.route_and_read(steps, NOW)
        assert isinstance(results[0], TicketAssigned) and isinstance(results[1], TicketAssigned)
        assert isinstance(results[3], TicketAssigned) and isinstance(results[4], TicketAssigned)
        assert [(r.ticket_id, r.agent_id, r.method) for r in (results[0], results[1], results[3])
                ] == [(a1.ticket_id, "acme-0", "round_robin"),
                      (b1.ticket_id, "beta-0", "round_robin"),
                      (a2.ticket_id, "acme-1", "round_robin")]
        assert results[2] == ("acme-0", messages[0].message_id)
        assert results[4] == results[0]  # routed once: the first decision comes back
        assert results[5] == "missing"
        history = await client.lrange(store.keys.history("acme", a1.ticket_id), 0, -1)
        assert len(history) == 1
        ticket = await TicketStore(settings, client).get("acme", a1.ticket_id)
        assert ticket is not None and ticket.agent_id == "acme-0"
    finally:
        await client.aclose()
