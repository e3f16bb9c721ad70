"""Which ticket a message could belong to (I3), decided from the message alone.

The lookups themselves happen in `ingest.lua`; this module computes what to look up.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

import msgspec

from schemas.events import Customer
from schemas.inbound import Channel, EmailMessage, InboundMessage, SmsMessage, WebchatMessage
from workers.ids import ticket_id_for

_TICKET_TOKEN = re.compile(r"\[#(\d{1,12})\]")

OutcomeKind = Literal["created", "appended", "reopened", "unsnoozed"]


class ThreadingPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the ingest script needs to thread one message."""

    account_id: str
    channel: Channel
    message_id: str
    thread_key: str
    email_refs: list[str]
    subject_number: int | None
    customer_key: str
    new_ticket_id: str
    at: datetime
    customer: Customer
    subject: str | None
    text: str
    tags: list[str] = []
    segments: list[str] = []


class ThreadOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the ingest script did with a message (or did the first time, if duplicate)."""

    kind: OutcomeKind
    ticket_id: str
    number: int
    created_at: str
    customer_ticket_count: int
    version: int
    duplicate: bool
    previous_status: Literal["closed", "snoozed"] | None = None


def subject_ticket_number(subject: str) -> int | None:
    """The ticket number of a `[#42]` token in an email subject, if any."""
    match = _TICKET_TOKEN.search(subject)
    return int(match.group(1)) if match else None


def email_references(message: EmailMessage) -> list[str]:
    """Message ids this email answers, the most direct first: In-Reply-To, then References
    from newest to oldest."""
    refs: list[str] = []
    for ref in ([message.in_reply_to] if message.in_reply_to else []) + message.references[::-1]:
        if ref not in refs:
            refs.append(ref)
    return refs


def customer_key(profile_id: str | None, address: str) -> str:
    """Who the customer is, for counting their tickets: the profile when known, else the
    address (`phone:+1555...`, `email:ana@...`, `session:s-1`), the same across channels."""
    if profile_id:
        return f"profile:{profile_id}"
    return address


def plan_threading(message: InboundMessage) -> ThreadingPlan:
    """The threading plan of a customer message on any channel."""
    if isinstance(message, SmsMessage):
        return ThreadingPlan(
            account_id=message.account_id, channel="sms", message_id=message.message_id,
            thread_key=f"sms:{message.to_number}:{message.from_number}",
            email_refs=[], subject_number=None,
            customer_key=customer_key(message.profile_id, f"phone:{message.from_number}"),
            new_ticket_id=ticket_id_for(message.account_id, "sms", message.message_id),
            at=message.received_at.astimezone(UTC),
            customer=Customer(phone=message.from_number, profile_id=message.profile_id),
            subject=None, text=message.body,
            tags=message.tags, segments=message.segments,
        )
    if isinstance(message, EmailMessage):
        sender = message.from_email.lower()
        return ThreadingPlan(
            account_id=message.account_id, channel="email", message_id=message.message_id,
            thread_key="", email_refs=email_references(message),
            subject_number=subject_ticket_number(message.subject),
            customer_key=customer_key(message.profile_id, f"email:{sender}"),
            new_ticket_id=ticket_id_for(message.account_id, "email", message.message_id),
            at=message.received_at.astimezone(UTC),
            customer=Customer(email=sender, name=message.from_name,
                              profile_id=message.profile_id),
            subject=message.subject, text=message.text,
            tags=message.tags, segments=message.segments,
        )
    assert isinstance(message, WebchatMessage)
    visitor = message.visitor
    return ThreadingPlan(
        account_id=message.account_id, channel="webchat", message_id=message.message_id,
        thread_key=f"webchat:{message.session_id}", email_refs=[], subject_number=None,
        customer_key=customer_key(
            visitor.profile_id,
            f"email:{visitor.email.lower()}" if visitor.email else f"session:{message.session_id}"),
        new_ticket_id=ticket_id_for(message.account_id, "webchat", message.message_id),
        at=message.sent_at.astimezone(UTC),
        customer=Customer(email=visitor.email, name=visitor.name,
                          profile_id=visitor.profile_id),
        subject=None, text=message.text, tags=message.tags, segments=message.segments,
    )
