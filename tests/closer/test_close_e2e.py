"""C1 and C4 end to end: real ingest and closer replicas on tansu and redis-server, the
router's `countdown.start` published as it will publish it, time moved by the test."""

from __future__ import annotations

import pytest

from harness.processes import WorkerProcess
from schemas.events import TicketMessage, TicketStatus
from tests.closer.conftest import DAY, Harness
from tests.messages import at, chat, email, sms
from workers.closer.events import CLOSE_NOTE

pytestmark = pytest.mark.e2e


def test_closes_after_the_period_on_every_channel(harness: Harness,
                                                   closer: WorkerProcess) -> None:
    p = harness.p
    inbound = [("inbound.sms", sms(from_number="+15550001001")),
               ("inbound.email", email(message_id="<c1@mail.example>")),
               ("inbound.webchat", chat(session_id="s-c1"))]
    for topic, m in inbound:
        p.publish(topic, "k", m)
    tickets = [harness.message_ticket(m.message_id) for _, m in inbound]
    for i, ticket in enumerate(tickets):
        harness.agent_replied(ticket, at(60 + i))
    for ticket in tickets:
        harness.wait_countdown(ticket)
    # Time moves to each due instant in turn: each ticket closes at its own deadline,
    # and the later ones were looked at (same account, same pass) and left open.
    for i, ticket in enumerate(tickets):
        harness.set_clock(at(60 + i) + 2 * DAY)
        closes = harness.wait_closed(ticket)
        assert harness.closed_ids() == set(tickets[:i + 1])
    by_ticket = {c.ticket_id: c for c in closes}
    for i, ticket in enumerate(tickets):
        assert by_ticket[ticket].at == at(60 + i) + 2 * DAY  # on time, never early
    assert len(closes) == 3


def test_close_emits_status_and_note_and_updates_redis(harness: Harness,
                                                       closer: WorkerProcess) -> None:
    p = harness.p
    m = sms(from_number="+15550001002")
    p.publish("inbound.sms", m.from_number, m)
    ticket = harness.message_ticket(m.message_id)
    harness.agent_replied(ticket, at(30))
    harness.wait_countdown(ticket)
    harness.set_clock(at(30) + 2 * DAY)
    harness.wait_closed(ticket)
    events = p.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.author_kind == "system" for r in rs))
    status = next(r for r in events if isinstance(r, TicketStatus))
    note = next(r for r in events if isinstance(r, TicketMessage) and r.author_kind == "system")
    assert (status.status, status.previous_status, status.reason) == ("closed", "open",
                                                                      "inactivity")
    assert status.at == at(30) + 2 * DAY and status.account_id == "acme"
    assert (note.text, note.direction, note.author_id, note.at) == (
        CLOSE_NOTE, "outbound", None, status.at)
    keys = [r.key for r in p.events.raw if r.value and b"inactivity" in r.value]
    assert keys and set(keys) == {ticket.encode()}
    stored = p.ticket(ticket)  # closed tickets stay readable
    assert stored["status"] == "closed" and stored["closed_reason"] == "inactivity"
    assert stored["number"] == "1" and stored["channel"] == "sms"
    assert p.redis.zscore(p.keys.status_view("acme", "closed"), ticket) == 1
    assert p.redis.zscore(p.keys.status_view("acme", "open"), ticket) is None
    # The countdown is consumed and its close acknowledged.
    harness.wait_redis(lambda: p.redis.zcard(p.keys.closing("acme")) == 0, "close acknowledged")
    assert p.redis.zcard(p.keys.timers("acme")) == 0
    assert harness.countdown(ticket) is None
