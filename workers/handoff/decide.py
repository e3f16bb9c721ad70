"""What a handoff request asks for (H2, H3), decided from the request and account alone."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from schemas.common import MAX_BODY_CHARS
from schemas.config import AccountDocument
from schemas.handoff import HandoffRequest, HandoffResult, HandoffStatus, HandoffTarget
from workers.handoff.helpdesk import HelpdeskTicket
from workers.runtime.ids import event_id

Verdict = Literal["resolved", "message", "declined", "email_required", "escalate"]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict on one request and the target it goes to."""

    verdict: Verdict
    target: HandoffTarget


def decide(request: HandoffRequest, account: AccountDocument) -> Decision:
    """Apply H2/H3 in the order the help-centre article gives them.

    `message` never asks the visitor anything (no consent, no email). Web chat needs the
    visitor's explicit yes. A visitor we cannot reach afterwards (no email, not signed in)
    is asked for an email first; an SMS visitor is reachable by phone, so only needs it
    when no phone is known.
    """
    target: HandoffTarget = account.handoff.method
    if request.outcome == "resolved":
        return Decision(verdict="resolved", target=target)
    if target == "message":
        return Decision(verdict="message", target=target)
    if request.channel == "webchat" and request.consent is not True:
        return Decision(verdict="declined", target=target)
    visitor = request.visitor
    reachable_by_phone = request.channel == "sms" and visitor.phone is not None
    if visitor.email is None and not visitor.authenticated and not reachable_by_phone:
        return Decision(verdict="email_required", target=target)
    return Decision(verdict="escalate", target=target)


def transcript_text(request: HandoffRequest, limit: int = MAX_BODY_CHARS) -> str:
    """The conversation as plain text, one timestamped line per turn (H5), cut to `limit`."""
    lines = [f"[{_rfc3339(line.at)}] {line.author}: {line.text}" for line in request.transcript]
    text = "\n".join(lines) or "(empty transcript)"
    if len(text) > limit:
        marker = "\n[transcript truncated]"
        text = text[: limit - len(marker)] + marker
    return text


def external_id(request: HandoffRequest) -> str:
    """The id the helpdesk ticket carries, so a lookup can find it after a crash."""
    return f"ticketflow:{request.account_id}:{request.handoff_id}"


def handoff_result(request: HandoffRequest, status: HandoffStatus, target: HandoffTarget,
                   at: datetime, *, notice: str | None = None,
                   external_ticket_id: str | None = None, error: str | None = None,
                   inbound_message_id: str | None = None) -> HandoffResult:
    """The `handoff.results` record; its id is the same every time this outcome is replayed."""
    return HandoffResult(
        event_id=event_id("handoff.result", request.account_id, request.handoff_id, status),
        account_id=request.account_id, handoff_id=request.handoff_id, status=status,
        target=target, at=at, external_ticket_id=external_ticket_id, visitor_notice=notice,
        error=error, inbound_message_id=inbound_message_id,
    )


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def helpdesk_ticket(request: HandoffRequest) -> HelpdeskTicket:
    """The ticket a helpdesk gets for this handoff (H5): requester, timestamped transcript,
    profile id, tags. Built only from the request, so every retry sends the same body."""
    visitor = request.visitor
    who = visitor.name or visitor.email or visitor.phone or "a visitor"
    return HelpdeskTicket(
        external_id=external_id(request),
        idempotency_key=f"ticketflow-handoff-{request.account_id}-{request.handoff_id}",
        subject=f"AI agent handoff ({request.channel}): {who}",
        body=transcript_text(request, limit=60000),
        channel=request.channel,
        requester_name=visitor.name, requester_email=visitor.email,
        requester_phone=visitor.phone, profile_id=visitor.profile_id,
        tags=["ai_handoff", f"channel_{request.channel}"],
    )
