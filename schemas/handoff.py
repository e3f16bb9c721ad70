"""`handoff.requests` from the AI customer agent and the `handoff.results` ticketflow answers."""

from __future__ import annotations

from typing import Literal

from schemas.common import AccountId, Body, Email, Id, Name, Phone, Timestamp, Wire
from schemas.inbound import Channel

HandoffTarget = Literal["internal", "zendesk", "gorgias", "message"]
HandoffStatus = Literal["created", "email_required", "declined", "message_sent", "failed"]


class HandoffVisitor(Wire):
    """The person the AI agent was talking to."""

    email: Email | None = None
    name: Name | None = None
    phone: Phone | None = None
    profile_id: Id | None = None
    authenticated: bool = False


class TranscriptLine(Wire):
    """One turn of the AI conversation."""

    author: Literal["visitor", "ai", "agent", "system"]
    text: Body
    at: Timestamp


class HandoffRequest(Wire):
    """Escalate an AI conversation to humans (H1; key: conversation id).

    Optional additions to CONTRACT: `shop_number` / `shop_email` name the account's side
    of an SMS or email conversation, which the `internal` method needs to thread it like
    any inbound message; `outcome: "resolved"` lets the AI agent report a conversation it
    ended without a human, so resolved and routed conversations are counted together (H8).
    A `resolved` report makes no handoff and publishes no result.
    """

    handoff_id: Id
    account_id: AccountId
    conversation_id: Id
    channel: Channel
    transcript: list[TranscriptLine]
    requested_at: Timestamp
    visitor: HandoffVisitor = HandoffVisitor()
    consent: bool | None = None
    shop_number: Phone | None = None
    shop_email: Email | None = None
    outcome: Literal["handoff", "resolved"] = "handoff"


class HandoffResult(Wire):
    """Outcome of one handoff (key: handoff id)."""

    event_id: Id
    account_id: AccountId
    handoff_id: Id
    status: HandoffStatus
    target: HandoffTarget
    at: Timestamp
    external_ticket_id: str | None = None
    visitor_notice: str | None = None
    error: str | None = None
    # Optional addition: for `internal`, the inbound message id the transcript entered
    # our pipeline with (ingest threads it; tickets.events name it in `ticket.message`).
    inbound_message_id: Id | None = None
