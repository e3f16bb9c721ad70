"""Closed tickets are forgotten after their retention (90 days by default): their routing
state leaves Redis, a later message starts a new ticket, and a ticket reopened in time is
kept. Real ingest and closer replicas, time moved by the test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.processes import WorkerProcess
from schemas.config import AccountDocument
from schemas.events import TicketCreated
from tests.closer.conftest import DAY, Harness
from tests.ingest.test_threading_e2e import set_status
from tests.messages import T0, at, chat, email, sms
from workers.closer.retention import retention_cutoff


def test_the_account_retention_wins_over_the_deployment_default(acme: AccountDocument) -> None:
    import msgspec

    assert retention_cutoff(T0, acme, 90) == T0 - timedelta(days=90)
    own = msgspec.structs.replace(acme, closed_retention_days=7)
    assert retention_cutoff(T0, own, 90) == T0 - timedelta(days=7)


@pytest.mark.e2e
def test_closed_tickets_are_forgotten_after_retention_and_reopened_ones_kept(
        harness: Harness, workers: tuple[WorkerProcess, WorkerProcess]) -> None:
    _, closer = workers
    p = harness.p
    quiet = sms(from_number="+15550002001", message_id="quiet-1")
    back = sms(from_number="+15550002002", message_id="back-1")
    visitor = chat(session_id="s-retention", message_id="chat-1")
    for topic, m in (("inbound.sms", quiet), ("inbound.sms", back),
                     ("inbound.webchat", visitor)):
        p.publish(topic, m.message_id, m)
    tickets = [harness.message_ticket(m.message_id) for m in (quiet, back, visitor)]
    for ticket in tickets:
        harness.agent_replied(ticket, at(60))
    for ticket in tickets:
        harness.wait_countdown(ticket)
    closed_at = at(60) + 2 * DAY
    harness.set_clock(closed_at)
    harness.wait_closed(*tickets)
    quiet_ticket, back_ticket, chat_ticket = tickets
    quiet_number = p.ticket(quiet_ticket)["number"]

    # An email ticket an agent closes by hand (the router's status change) at the same time.
    mail = email(message_id="<retention-1@mail.example>")
    p.publish("inbound.email", mail.message_id, mail)
    mail_ticket = harness.message_ticket(mail.message_id)
    set_status(p, mail_ticket, "closed", at=closed_at)

    # Day 89 after the close: the second customer writes again and reopens their ticket.
    harness.set_clock(closed_at + 89 * DAY)
    again = sms(from_number=back.from_number, message_id="back-2",
                received_at=closed_at + 89 * DAY)
    p.publish("inbound.sms", again.message_id, again)
    assert harness.message_ticket("back-2") == back_ticket

    since = len(closer.lines)
    harness.set_clock(closed_at + 90 * DAY + timedelta(seconds=1))
    closer.wait_for_log(r"retention: forgot 3 closed tickets of acme", since=since)

    keys = p.keys
    assert not p.redis.exists(keys.email("acme", mail.message_id))
    for forgotten in (quiet_ticket, chat_ticket, mail_ticket):
        assert not p.redis.exists(keys.ticket("acme", forgotten), keys.history("acme", forgotten),
                                  keys.routing("acme", forgotten))
        assert p.redis.zscore(keys.tickets("acme"), forgotten) is None
        assert p.redis.zscore(keys.status_view("acme", "closed"), forgotten) is None
        assert p.redis.zscore(keys.retention("acme"), forgotten) is None
    assert not p.redis.exists(keys.number("acme", quiet_number))
    assert p.ticket(back_ticket)["status"] == "open"  # reopened in time: kept
    mapped = {p.redis.get(k) for k in p.redis.scan_iter(match=keys.thread("acme", "*"))}
    assert quiet_ticket not in mapped and chat_ticket not in mapped

    # The quiet customer writes again: a new ticket, not the forgotten one.
    later = sms(from_number=quiet.from_number, message_id="quiet-2",
                received_at=closed_at + 91 * DAY)
    p.publish("inbound.sms", later.message_id, later)
    new_ticket = harness.message_ticket("quiet-2")
    assert new_ticket != quiet_ticket
    assert any(isinstance(r, TicketCreated) and r.ticket_id == new_ticket
               for r in p.events.records)
