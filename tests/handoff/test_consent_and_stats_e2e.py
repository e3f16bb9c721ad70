"""H2, H3, H8: consent, email before a helpdesk ticket, the custom-message method, and the
per-account counts of conversations resolved by the AI versus routed to the team."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import msgspec
import pytest

from harness.embedded import free_port
from schemas.config import AccountDocument, HandoffSettings
from schemas.handoff import HandoffVisitor
from tests.handoff.conftest import (
    Spawn,
    configure,
    request,
    result_of,
    send,
    zendesk_config,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline
from workers.handoff import notices
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", *args],
                          env={**settings.to_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=120)


def test_consent_and_email_rules(pipeline: Pipeline, acme: AccountDocument,
                                 zendesk: FakeHelpdesk, spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    spawn()
    no_consent = request(consent=False)
    anonymous = request(conversation_id="s-anon", visitor=HandoffVisitor(name="Guest"))
    with_email = request(conversation_id="s-anon",
                         visitor=HandoffVisitor(name="Guest", email="guest@example.com"))
    send(pipeline, no_consent)
    send(pipeline, anonymous)
    send(pipeline, with_email)  # the AI agent asked, the visitor answered

    declined = result_of(pipeline, no_consent.handoff_id)
    assert declined.status == "declined" and declined.external_ticket_id is None
    asked = result_of(pipeline, anonymous.handoff_id)
    assert asked.status == "email_required" and asked.visitor_notice == notices.ASK_EMAIL
    proceeded = result_of(pipeline, with_email.handoff_id)
    assert proceeded.status == "created"
    [ticket] = zendesk.tickets
    assert ticket.payload["ticket"]["requester"]["email"] == "guest@example.com"

    # The declined request redelivered: the same result again, not one with a new time.
    send(pipeline, no_consent)
    tail = pipeline.tail("handoff.results")
    tail.wait_for(lambda rs: sum(r.handoff_id == no_consent.handoff_id for r in rs) >= 2,
                  what="the declined result published again")
    copies = {raw.value for raw, r in zip(tail.raw, tail.records, strict=True)
              if r.handoff_id == no_consent.handoff_id}
    assert len(copies) == 1


def test_message_method_sends_the_custom_text_and_makes_no_ticket(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    text = "See https://acme.example/help or write to help@acme.example"
    configure(pipeline, acme, method="message", message=text)
    spawn()
    req = request(consent=None)  # no consent question with a custom message
    send(pipeline, req)
    result = result_of(pipeline, req.handoff_id)
    assert (result.status, result.target, result.visitor_notice) == ("message_sent", "message",
                                                                     text)
    assert result.external_ticket_id is None


def test_resolved_versus_routed_counts_on_cli_and_metrics(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    other = msgspec.structs.replace(acme, account_id="globex", handoff=HandoffSettings())
    publish_accounts(pipeline.settings, [other])
    port = free_port()
    pipeline.settings = msgspec.structs.replace(pipeline.settings, http_port=port)
    spawn()
    resolved = request(conversation_id="c1", outcome="resolved")
    routed = request(conversation_id="c2")
    resolved_then_routed = [request(conversation_id="c3", outcome="resolved"),
                            request(conversation_id="c3")]
    elsewhere = request(account_id="globex", conversation_id="c9", outcome="resolved")
    for req in [resolved, routed, *resolved_then_routed, elsewhere, resolved]:  # dup report
        send(pipeline, req)
    result_of(pipeline, routed.handoff_id)
    result_of(pipeline, resolved_then_routed[1].handoff_id)

    out = cli(pipeline.settings, "handoff", "stats", "--account", "acme")
    assert out.returncode == 0, out.stderr
    assert "resolved 1, routed 2" in out.stdout
    assert "resolved 1, routed 0" in cli(pipeline.settings, "handoff", "stats", "--account",
                                         "globex").stdout  # A1: per account
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    text = metrics.decode()
    assert 'ticketflow_ai_conversations{account="acme",ended="routed"} 2.0' in text
    assert 'ticketflow_ai_conversations{account="acme",ended="resolved"} 1.0' in text
    assert 'ticketflow_handoff_outcomes_total{account="acme",status="created",' \
           'target="zendesk"} 2.0' in text
