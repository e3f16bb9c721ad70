"""H4: `internal` hands the transcript to our own pipeline (ingest threads it) and tells
the visitor the team has it, or the out-of-hours text when nobody can pick it up."""

from __future__ import annotations

import pytest

from schemas.config import AccountDocument
from schemas.events import TicketCreated, TicketMessage
from schemas.handoff import HandoffVisitor
from tests.handoff.conftest import (
    MONDAY_11_PARIS,
    SUNDAY,
    Spawn,
    agent_online,
    request,
    result_of,
    send,
    set_now,
)
from tests.pipeline import Pipeline
from workers.handoff import notices

pytestmark = pytest.mark.e2e


def test_webchat_handoff_becomes_a_ticket_and_notice_follows_availability(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    assert acme.handoff.method == "internal"
    set_now(pipeline, MONDAY_11_PARIS)
    agent_online(pipeline, "ag-1", MONDAY_11_PARIS)
    spawn("ingest")
    spawn()
    staffed = request()
    send(pipeline, staffed)
    result = result_of(pipeline, staffed.handoff_id)
    assert result.status == "created" and result.target == "internal"
    assert result.visitor_notice == notices.TEAM_HAS_IT
    events = pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketMessage) and r.message_id ==
                       result.inbound_message_id for r in rs), what="transcript threaded")
    message = next(r for r in events if isinstance(r, TicketMessage))
    assert "visitor: Where is my parcel?" in message.text and "ai: Let me connect" in message.text
    created = next(r for r in events if isinstance(r, TicketCreated))
    assert created.channel == "webchat" and created.customer.email == "ana@example.com"
    assert created.ticket_id == message.ticket_id

    # Nobody online (inside hours): the account's out-of-hours text.
    pipeline.redis.delete(pipeline.keys.online("acme"))
    nobody = request()
    send(pipeline, nobody)
    assert result_of(pipeline, nobody.handoff_id).visitor_notice == acme.out_of_hours_text
    # Agent online but outside business hours (Sunday): the out-of-hours text too.
    set_now(pipeline, SUNDAY)
    agent_online(pipeline, "ag-1", SUNDAY)
    closed = request()
    send(pipeline, closed)
    assert result_of(pipeline, closed.handoff_id).visitor_notice == acme.out_of_hours_text


def test_sms_handoff_threads_by_numbers_and_redelivery_adds_nothing(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    set_now(pipeline, MONDAY_11_PARIS)
    spawn("ingest")
    spawn()
    req = request(channel="sms", consent=None, shop_number="+15557654321",
                  visitor=HandoffVisitor(phone="+15551230009", name="Bo"))
    send(pipeline, req)
    send(pipeline, req)  # redelivered
    results = pipeline.tail("handoff.results").wait_for(
        lambda rs: sum(r.handoff_id == req.handoff_id for r in rs) == 2, what="both results")
    first, again = [r for r in results if r.handoff_id == req.handoff_id]
    assert first == again and first.status == "created"
    pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketMessage) for r in rs),
                             what="transcript threaded")
    events = pipeline.events.drain()
    # Ingest saw the message id before: it re-publishes the same events (same event ids),
    # which consumers drop; no second ticket and no second message.
    created = {r.event_id: r for r in events if isinstance(r, TicketCreated)}
    assert len(created) == 1
    [ticket] = created.values()
    assert ticket.channel == "sms" and ticket.customer.phone == "+15551230009"
    messages = {r.event_id: r for r in events if isinstance(r, TicketMessage)}
    assert len(messages) == 1 and len({m.ticket_id for m in messages.values()}) == 1


def test_internal_sms_without_shop_number_fails_with_reason(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    spawn()
    req = request(channel="sms", consent=None, visitor=HandoffVisitor(phone="+15551230009"))
    send(pipeline, req)
    result = result_of(pipeline, req.handoff_id)
    assert result.status == "failed" and "shop_number" in (result.error or "")
