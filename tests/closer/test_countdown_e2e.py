"""C1 (snoozed), C2, C3 and C5 end to end."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from harness.processes import WorkerProcess
from schemas.events import TicketStatus
from tests.closer.conftest import DAY, Harness
from tests.messages import T0, at, chat, email, sms, typing
from workers.state.store import connect
from workers.state.tickets import TicketStore

pytestmark = pytest.mark.e2e


def snooze(harness: Harness, ticket_id: str) -> None:
    """Snooze through the same store code the router uses."""
    async def change() -> None:
        client = connect(harness.p.settings)
        try:
            assert await TicketStore(harness.p.settings, client).set_status(
                "acme", ticket_id, "snoozed", at=T0) == "open"
        finally:
            await client.aclose()
    asyncio.run(change())


def new_ticket(harness: Harness, number: str) -> str:
    m = sms(from_number=number)
    harness.p.publish("inbound.sms", m.from_number, m)
    return harness.message_ticket(m.message_id)


def test_snoozed_ticket_closes_too(harness: Harness, closer: WorkerProcess) -> None:
    ticket = new_ticket(harness, "+15550002001")
    snooze(harness, ticket)
    harness.agent_replied(ticket, at(10))
    harness.set_clock(at(10) + 2 * DAY)
    (close,) = harness.wait_closed(ticket)
    assert (close.previous_status, close.status) == ("snoozed", "closed")
    p = harness.p
    assert p.redis.zscore(p.keys.status_view("acme", "snoozed"), ticket) is None
    assert p.redis.zscore(p.keys.status_view("acme", "closed"), ticket) is not None


def test_agent_follow_ups_do_not_extend_and_customer_message_cancels(
        harness: Harness, closer: WorkerProcess) -> None:
    followed = new_ticket(harness, "+15550002002")
    answered = new_ticket(harness, "+15550002003")
    harness.agent_replied(followed, at(60))
    harness.agent_replied(answered, at(60))
    # A second start for the same activity version (a follow-up reply) changes nothing.
    harness.agent_replied(followed, at(3600))
    harness.wait_countdown(answered)
    harness.wait_redis(lambda: harness.countdown(followed) is not None
                       and harness.p.redis.zscore(harness.p.keys.timers("acme"), followed)
                       == at(60).timestamp(), "first start kept")
    reply = sms(from_number="+15550002003", received_at=at(120))
    harness.p.publish("inbound.sms", reply.from_number, reply)
    harness.message_ticket(reply.message_id)
    harness.wait_redis(lambda: harness.countdown(answered) is None, "countdown cancelled")
    harness.set_clock(at(60) + 2 * DAY)
    closes = harness.wait_closed(followed)
    assert closes[0].at == at(60) + 2 * DAY  # not moved by the follow-up
    # Long after every deadline: a marker due now closes, in the same pass that would
    # have closed the answered ticket.
    marker = new_ticket(harness, "+15550002005")
    harness.agent_replied(marker, at(3600) + DAY)
    harness.wait_countdown(marker)
    harness.set_clock(at(3600) + 3 * DAY)
    harness.wait_closed(marker)
    assert harness.closed_ids() == {followed, marker}
    assert harness.p.ticket(answered)["status"] == "open"


def test_typing_delays_the_close_by_the_grace_period(harness: Harness,
                                                     closer: WorkerProcess) -> None:
    first = chat(session_id="s-typing")
    harness.p.publish("inbound.webchat", "s-typing", first)
    typed = harness.message_ticket(first.message_id)
    marker = new_ticket(harness, "+15550002004")
    harness.agent_replied(typed, at(60))
    harness.agent_replied(marker, at(60))
    harness.wait_countdown(typed)
    typing_at = at(60) + 2 * DAY - timedelta(seconds=60)
    harness.set_clock(typing_at)
    harness.p.publish("inbound.webchat", "s-typing", typing(session_id="s-typing", at=typing_at))
    harness.wait_redis(lambda: not (harness.countdown(typed) or " -").endswith(" -"),
                       "typing recorded")
    harness.set_clock(at(60) + 2 * DAY)
    harness.wait_closed(marker)  # same account, same pass: the typed ticket was looked at
    assert typed not in harness.closed_ids()
    harness.set_clock(typing_at + timedelta(seconds=299))
    harness.set_clock(typing_at + timedelta(seconds=300))
    closes = {c.ticket_id: c for c in harness.wait_closed(typed)}
    assert closes[typed].at == typing_at + timedelta(minutes=5)


def test_reopened_ticket_starts_over(harness: Harness, closer: WorkerProcess) -> None:
    first = email(message_id="<reopen1@mail.example>")
    harness.p.publish("inbound.email", "ana@example.com", first)
    ticket = harness.message_ticket(first.message_id)
    harness.agent_replied(ticket, at(60))
    harness.set_clock(at(60) + 2 * DAY)
    harness.wait_closed(ticket)
    back = at(60) + 2 * DAY + timedelta(hours=1)
    harness.set_clock(back)
    again = email(message_id="<reopen2@mail.example>", in_reply_to="<reopen1@mail.example>",
                  received_at=back)
    harness.p.publish("inbound.email", "ana@example.com", again)
    assert harness.message_ticket(again.message_id) == ticket
    harness.p.events.wait_for(lambda rs: any(isinstance(r, TicketStatus)
                                             and r.reason == "reopened" for r in rs))
    assert harness.p.ticket(ticket)["version"] == "2"
    # No countdown until the next agent reply: the old one does not come back.
    restart = back + timedelta(hours=2)
    harness.agent_replied(ticket, restart)
    harness.wait_countdown(ticket, version=2)
    harness.set_clock(restart + 2 * DAY)
    harness.p.events.wait_for(lambda rs: len([r for r in rs if isinstance(r, TicketStatus)
                                              and r.reason == "inactivity"]) == 2,
                              what="second inactivity close")
    closes = harness.closes()
    assert [c.at for c in closes] == [at(60) + 2 * DAY, restart + 2 * DAY]
    assert len({c.event_id for c in closes}) == 2
    assert harness.p.ticket(ticket)["status"] == "closed"
