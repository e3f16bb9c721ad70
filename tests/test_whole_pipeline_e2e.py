"""The four worker kinds together, as `make run` runs them: what one kind publishes is what
the next consumes (ingest -> router -> closer; handoff -> ingest -> router)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.processes import WorkerProcess
from schemas.events import TicketAssigned, TicketCreated, TicketMessage, TicketStatus
from schemas.handoff import HandoffRequest, HandoffVisitor, TranscriptLine
from schemas.internal import CountdownStart
from tests.conftest import MONDAY_OPEN, ClockControl
from tests.messages import sms
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence

pytestmark = pytest.mark.e2e


def closes(pipeline: Pipeline, ticket_id: str) -> list[TicketStatus]:
    return [r for r in pipeline.events.records if isinstance(r, TicketStatus)
            and r.ticket_id == ticket_id and r.status == "closed"]


def test_agent_reply_through_the_router_starts_the_closers_countdown(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        closer: WorkerProcess, clock: ClockControl) -> None:
    assert closer.alive
    presence(pipeline, "ag-3", applied_by=router)
    ticket = new_ticket(pipeline)
    assert assignments(pipeline, ticket.ticket_id)[0].agent_id == "ag-3"
    # C2: the first agent reply starts the countdown; a later one does not extend it.
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-3", ticket_id=ticket.ticket_id,
            author_kind="agent", text="Shipped yesterday", at=MONDAY_OPEN)
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-3", ticket_id=ticket.ticket_id,
            author_kind="agent", text="Tracking link: ...",
            at=MONDAY_OPEN + timedelta(hours=20))
    pipeline.events.wait_for(lambda rs: sum(getattr(r, "direction", "") == "outbound"
                                            for r in rs) >= 2)
    starts = pipeline.tail("timers").wait_for(
        lambda rs: any(isinstance(r, CountdownStart) for r in rs))
    assert [(r.ticket_id, r.started_at) for r in starts if isinstance(r, CountdownStart)] == [
        (ticket.ticket_id, MONDAY_OPEN)]
    # Two days after the FIRST reply (the second did not extend it), the closer closes.
    clock.set(MONDAY_OPEN + timedelta(days=2))
    pipeline.events.wait_for(lambda rs: bool(closes(pipeline, ticket.ticket_id)),
                             what="closed for inactivity")
    [close] = closes(pipeline, ticket.ticket_id)
    assert (close.previous_status, close.reason) == ("open", "inactivity")
    assert close.at == MONDAY_OPEN + timedelta(days=2)
    note = [r for r in pipeline.events.records if isinstance(r, TicketMessage)
            and r.ticket_id == ticket.ticket_id and r.author_kind == "system"]
    assert [n.text for n in note] == ["Ticket closed due to inactivity"]
    # C5: the customer writes again; the SMS ticket reopens and its agent is told (N1).
    again = sms(from_number=ticket.customer.phone, received_at=MONDAY_OPEN + timedelta(days=3))
    pipeline.publish("inbound.sms", again.from_number, again)
    notes = pipeline.tail("notifications").wait_for(
        lambda rs: any(n.kind == "reopened" for n in rs))
    assert [n.agent_id for n in notes if n.kind == "reopened"] == ["ag-3"]


def test_internal_handoff_becomes_a_routed_ticket(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        handoff: WorkerProcess) -> None:
    presence(pipeline, "ag-1", applied_by=router)
    request = HandoffRequest(
        handoff_id="h-chain", account_id="acme", conversation_id="s-chain", channel="webchat",
        visitor=HandoffVisitor(email="ana@example.com", name="Ana", authenticated=True),
        consent=True, requested_at=MONDAY_OPEN,
        transcript=[TranscriptLine(author="visitor", text="Where is my parcel?", at=MONDAY_OPEN),
                    TranscriptLine(author="ai", text="Let me connect you.", at=MONDAY_OPEN)])
    pipeline.publish("handoff.requests", request.conversation_id, request)
    result = pipeline.tail("handoff.results").wait_for(lambda rs: len(rs) >= 1)[0]
    assert (result.status, result.target) == ("created", "internal")
    created = pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketCreated) for r in rs))
    ticket = next(r for r in created if isinstance(r, TicketCreated))
    assert ticket.channel == "webchat" and ticket.customer.email == "ana@example.com"
    change = pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketAssigned)
                                                     for r in rs))
    [assigned] = [r for r in change if isinstance(r, TicketAssigned)]
    assert (assigned.ticket_id, assigned.agent_id, assigned.method) == (
        ticket.ticket_id, "ag-1", "round_robin")
