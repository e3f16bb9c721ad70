"""H5-H7 against a fake Zendesk: ticket shape and auth, retries that honour Retry-After,
permanent failures, and never a second ticket for one handoff id."""

from __future__ import annotations

import pytest

from schemas.config import AccountDocument
from schemas.events import DeadLetter
from schemas.handoff import HandoffVisitor
from tests.handoff.conftest import (
    ZENDESK_OAUTH_SECRET,
    ZENDESK_SECRET,
    Spawn,
    configure,
    request,
    result_of,
    send,
    zendesk_config,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def test_creates_one_ticket_with_transcript_and_notices_per_channel(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    worker = spawn(TICKETFLOW_LOG_LEVEL="DEBUG")
    chat = request()
    sms = request(channel="sms", consent=None,
                  visitor=HandoffVisitor(phone="+15551230001", name="Bo"))
    send(pipeline, chat)
    send(pipeline, sms)

    created = result_of(pipeline, chat.handoff_id)
    assert created.status == "created" and created.target == "zendesk"
    [ticket] = zendesk.tickets_of(chat.handoff_id)
    assert created.external_ticket_id == str(ticket.id)
    body = ticket.payload["ticket"]
    assert body["requester"] == {"name": "Ana", "email": "ana@example.com"}
    assert "[2026-11-23T09:55:00Z] visitor: Where is my parcel?" in body["comment"]["body"]
    assert "01HXPROFILE" in body["comment"]["body"]
    assert "ai_handoff" in body["tags"] and body["external_id"].endswith(chat.handoff_id)
    assert ticket.idempotency_key
    assert "by email at ana@example.com" in (created.visitor_notice or "")  # chat -> email

    by_sms = result_of(pipeline, sms.handoff_id)
    assert by_sms.status == "created" and "by SMS" in (by_sms.visitor_notice or "")

    # H7: the secret is referenced by name and never logged, even at DEBUG.
    assert all(r.authorized for r in zendesk.requests)
    assert ZENDESK_SECRET not in "\n".join(worker.lines)


def test_oauth_bearer_and_redelivery_makes_no_second_ticket(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk, oauth=True))
    worker = spawn()
    req = request()
    send(pipeline, req)
    first = result_of(pipeline, req.handoff_id)
    send(pipeline, req)  # the AI agent (or the broker) delivers it again
    results = pipeline.tail("handoff.results")
    results.wait_for(lambda rs: sum(r.handoff_id == req.handoff_id for r in rs) == 2,
                     what="the replayed result")
    again = [r for r in results.records if r.handoff_id == req.handoff_id][1]
    assert again == first  # same outcome, same event id: consumers drop the duplicate
    assert len(zendesk.tickets_of(req.handoff_id)) == 1
    assert len(zendesk.creates_of(req.handoff_id)) == 1
    assert ZENDESK_OAUTH_SECRET not in "\n".join(worker.lines)


def test_retries_honour_retry_after_and_survive_5xx_and_lost_responses(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    limited, flaky, lost = request(), request(), request()
    zendesk.behave(limited.handoff_id, ["429:1"])
    zendesk.behave(flaky.handoff_id, ["500", "500"])
    zendesk.behave(lost.handoff_id, ["create_then_500"])
    spawn()
    for req in (limited, flaky, lost):
        send(pipeline, req)
    for req in (limited, flaky, lost):
        assert result_of(pipeline, req.handoff_id).status == "created"
        assert len(zendesk.tickets_of(req.handoff_id)) == 1, req.handoff_id

    first, second = zendesk.creates_of(limited.handoff_id)
    assert second.at - first.at >= 0.95  # waited out Retry-After: 1
    assert len(zendesk.creates_of(flaky.handoff_id)) == 3
    # The lost response was ambiguous: the retry looked the ticket up and found it.
    assert zendesk.lookups_of(lost.handoff_id)
    assert result_of(pipeline, lost.handoff_id).external_ticket_id == \
        str(zendesk.tickets_of(lost.handoff_id)[0].id)


@pytest.mark.parametrize("behaviours, reason", [
    (["401"], "HTTP 401"),
    (["422"], "HTTP 422"),
    (["hang", "hang", "hang"], "gave up after 3 attempts"),
    (["500", "500", "500"], "gave up after 3 attempts"),
    (["429:30"], "exceed"),
])
def test_failures_end_in_failed_result_and_dead_letter(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk, spawn: Spawn,
        behaviours: list[str], reason: str) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    req = request()
    zendesk.behave(req.handoff_id, behaviours)
    spawn()
    send(pipeline, req)
    result = result_of(pipeline, req.handoff_id)
    assert result.status == "failed" and reason in (result.error or "")
    letters = pipeline.tail("deadletter").wait_for(
        lambda rs: any(isinstance(r, DeadLetter) and req.handoff_id in str(r) or
                       "handoff failed" in r.reason for r in rs), what="dead letter")
    assert any(reason in letter.reason for letter in letters)
    if behaviours[0] in ("401", "422"):
        assert len(zendesk.creates_of(req.handoff_id)) == 1  # other 4xx: no retry
    assert zendesk.tickets_of(req.handoff_id) == []
