"""H5, H6, X1 against a fake Gorgias (no idempotency header): lookup by external_id
before creating, and exactly one ticket across a SIGKILL between the call and the commit."""

from __future__ import annotations

import pytest

from schemas.config import AccountDocument
from tests.handoff.conftest import (
    GORGIAS_SECRET,
    Spawn,
    configure,
    gorgias_config,
    request,
    result_of,
    send,
    zendesk_config,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def test_creates_after_lookup_and_retries_429(pipeline: Pipeline, acme: AccountDocument,
                                              gorgias: FakeHelpdesk, spawn: Spawn) -> None:
    configure(pipeline, acme, **gorgias_config(gorgias))
    req = request()
    gorgias.behave(req.handoff_id, ["429:1"])
    worker = spawn()
    send(pipeline, req)
    result = result_of(pipeline, req.handoff_id)
    assert result.status == "created" and result.target == "gorgias"
    [ticket] = gorgias.tickets_of(req.handoff_id)
    assert result.external_ticket_id == str(ticket.id)
    assert ticket.payload["customer"]["email"] == "ana@example.com"
    assert ticket.payload["channel"] == "chat" and ticket.payload["via"] == "api"
    assert "Where is my parcel?" in ticket.payload["messages"][0]["body_text"]
    assert ticket.payload["meta"]["profile_id"] == "01HXPROFILE"
    first, second = gorgias.creates_of(req.handoff_id)
    assert second.at - first.at >= 0.95
    assert len(gorgias.lookups_of(req.handoff_id)) == 2  # before each create
    assert GORGIAS_SECRET not in "\n".join(worker.lines)


@pytest.mark.parametrize("helpdesk", ["gorgias", "zendesk"])
def test_sigkill_between_call_and_commit_makes_exactly_one_ticket(
        pipeline: Pipeline, acme: AccountDocument, gorgias: FakeHelpdesk,
        zendesk: FakeHelpdesk, spawn: Spawn, helpdesk: str) -> None:
    fake = gorgias if helpdesk == "gorgias" else zendesk
    configure(pipeline, acme, **(gorgias_config(fake) if helpdesk == "gorgias"
                                 else zendesk_config(fake)))
    req = request()
    # The helpdesk creates the ticket and then holds its answer: the worker is inside
    # the HTTP call, nothing is recorded or committed yet.
    fake.behave(req.handoff_id, ["create_then_hold"])
    worker = spawn()
    send(pipeline, req)
    assert fake.arrived(req.handoff_id).wait(30), "the create call never arrived"
    worker.sigkill()
    assert len(fake.tickets_of(req.handoff_id)) == 1
    assert pipeline.tail("handoff.results").drain() == []

    worker = spawn()  # the request is redelivered to the new replica
    result = result_of(pipeline, req.handoff_id)
    assert result.status == "created"
    [ticket] = fake.tickets_of(req.handoff_id)
    assert result.external_ticket_id == str(ticket.id)
    assert len(fake.creates_of(req.handoff_id)) == 1  # found by lookup, not re-created
    worker.wait_for_log(r"already exists")
