"""Pure handoff rules (H2, H3, H5, H6) without a broker."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from schemas.config import HandoffSettings, load_account_yaml
from schemas.handoff import HandoffVisitor
from tests.handoff.conftest import request
from tests.workers.test_cli import SAMPLE
from workers.handoff.decide import decide, helpdesk_ticket, transcript_text
from workers.handoff.gorgias import ticket_payload as gorgias_payload
from workers.handoff.helpdesk import secret
from workers.handoff.notices import helpdesk_notice, internal_notice
from workers.handoff.retry import (
    PermanentHelpdeskError,
    RetryPolicy,
    TransientHelpdeskError,
    parse_retry_after,
    with_retries,
)
from workers.handoff.zendesk import ticket_payload as zendesk_payload

ACME = load_account_yaml(SAMPLE.read_text())


def with_method(**handoff: object):  # noqa: ANN201
    return msgspec.structs.replace(ACME, handoff=HandoffSettings(**handoff))  # type: ignore[arg-type]


def test_verdicts() -> None:
    assert decide(request(), ACME).verdict == "escalate"
    assert decide(request(consent=None), ACME).verdict == "declined"
    assert decide(request(consent=False), ACME).verdict == "declined"
    anonymous = HandoffVisitor(name="Guest")
    assert decide(request(visitor=anonymous), ACME).verdict == "email_required"
    signed_in = HandoffVisitor(authenticated=True)
    assert decide(request(visitor=signed_in), ACME).verdict == "escalate"
    sms = request(channel="sms", consent=None, visitor=HandoffVisitor(phone="+15551230001"))
    assert decide(sms, ACME).verdict == "escalate"  # reachable by SMS
    message = with_method(method="message", message="See our FAQ")
    assert decide(request(consent=False, visitor=anonymous), message).verdict == "message"
    assert decide(request(outcome="resolved"), ACME).verdict == "resolved"


def test_notices() -> None:
    assert "by email at ana@example.com" in helpdesk_notice(request())
    assert "by SMS" in helpdesk_notice(request(channel="sms"))
    assert internal_notice(ACME, team_available=False) == ACME.out_of_hours_text
    assert internal_notice(ACME, team_available=True) != ACME.out_of_hours_text


def test_transcript_has_timestamps_and_is_bounded() -> None:
    text = transcript_text(request())
    assert text.splitlines()[0] == "[2026-11-23T09:55:00Z] visitor: Where is my parcel?"
    assert len(transcript_text(request(), limit=40)) == 40


def test_helpdesk_payloads_are_deterministic_per_handoff() -> None:
    req = request()
    assert zendesk_payload(helpdesk_ticket(req)) == zendesk_payload(helpdesk_ticket(req))
    payload = zendesk_payload(helpdesk_ticket(req))["ticket"]
    assert payload["external_id"] == f"ticketflow:acme:{req.handoff_id}"
    assert gorgias_payload(helpdesk_ticket(req))["customer"]["email"] == "ana@example.com"


def test_backoff_honours_retry_after_with_jitter_and_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=0.5, max_s=4.0, budget_s=60)
    assert policy.delay(1, None, rng=lambda: 0.0) == 0.25
    assert policy.delay(1, None, rng=lambda: 1.0) == 0.5
    assert policy.delay(10, None, rng=lambda: 1.0) == 4.0
    assert policy.delay(1, 7.0, rng=lambda: 1.0) == 7.0
    assert parse_retry_after("3") == 3.0 and parse_retry_after("soon") is None


def _run(outcomes: list[object], budget: float = 60.0) -> tuple[object, list[float]]:
    waits: list[float] = []
    looked: list[bool] = []

    async def call(look_up_first: bool) -> str:
        looked.append(look_up_first)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_attempts=3, base_s=0.1, max_s=1.0, budget_s=budget)
    try:
        result: object = asyncio.run(with_retries(call, policy, lambda: budget, sleep))
    except PermanentHelpdeskError as exc:
        result = exc
    return result, waits


def test_with_retries() -> None:
    result, waits = _run([TransientHelpdeskError("429", retry_after=2, ambiguous=False), "42"])
    assert result == "42" and waits == [2]
    result, _ = _run([PermanentHelpdeskError("HTTP 401"), "42"])
    assert isinstance(result, PermanentHelpdeskError) and result.reason == "HTTP 401"
    result, waits = _run([TransientHelpdeskError("500")] * 3)
    assert isinstance(result, PermanentHelpdeskError) and len(waits) == 2
    result, _ = _run([TransientHelpdeskError("429", retry_after=120), "42"], budget=10)
    assert isinstance(result, PermanentHelpdeskError) and "budget" in result.reason


def test_missing_secret_is_named_never_shown() -> None:
    with pytest.raises(PermanentHelpdeskError, match="ACME_X is not set"):
        secret({}, "ACME_X", "zendesk api token")
    assert secret({"ACME_X": "v"}, "ACME_X", "t") == "v"
