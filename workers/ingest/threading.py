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
from workers.runtime.ids import ticket_id_for

_TICKET_TOKEN = re.compile(r"\[#(\d{1,12})\]")

REFERENCES_LOOKED_UP = 100
"""An email is looked up by its In-Reply-To and its newest 100 References. The newest is the
message it answers; each message of a thread maps to the ticket, so older ids add nothing
but lookups (the schema refuses more than MAX_REFERENCES)."""

OutcomeKind = Literal["created", "appended", "reopened", "unsnoozed"]


class MessageContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a message's events say of it. The first delivery records it with the dedup mark,
    and a redelivery's events are rebuilt from that record, whatever the retry carries (I2)."""

    at: datetime
    text: str
    author_id: str | None
    customer: Customer
    subject: str | None
    tags: list[str] = []
    segments: list[str] = []


class ThreadingPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the ingest script needs to thread one message."""

    account_id: str
    channel: Channel
    message_id: str
    thread_key: str
    email_refs: list[str]
    subject_number: int | None
    token_customer_keys: list[str]
    customer_key: str
    new_ticket_id: str
    content: MessageContent


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
    recorded: MessageContent | None = None
    """A duplicate's content as its first delivery recorded it (None: a first delivery, or a
    mark written before marks held content)."""


def event_content(plan: ThreadingPlan, outcome: ThreadOutcome) -> MessageContent:
    """The content a message's events carry: the first delivery's, always."""
    return outcome.recorded or plan.content


def subject_ticket_number(subject: str) -> int | None:
    """The ticket number of a `[#42]` token in an email subject, if any."""
    match = _TICKET_TOKEN.search(subject)
    return int(match.group(1)) if match else None


def email_references(message: EmailMessage) -> list[str]:
    """Message ids this email answers, the most direct first: In-Reply-To, then the newest
    REFERENCES_LOOKED_UP References from newest to oldest."""
    newest = message.references[:-REFERENCES_LOOKED_UP - 1:-1]
    refs = ([message.in_reply_to] if message.in_reply_to else []) + newest
    return list(dict.fromkeys(refs))


def token_customer_keys(profile_id: str | None, sender: str) -> list[str]:
    """Who may thread into a ticket by its `[#n]` subject token: the ticket's own customer,
    known by profile or by address. Numbers are sequential, so a token alone proves nothing;
    `ingest.lua` compares these keys with the ticket's customer key and email address."""
    keys = [f"email:{sender}"]
    if profile_id:
        keys.insert(0, f"profile:{profile_id}")
    return keys


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
            email_refs=[], subject_number=None, token_customer_keys=[],
            customer_key=customer_key(message.profile_id, f"phone:{message.from_number}"),
            new_ticket_id=ticket_id_for(message.account_id, "sms", message.message_id),
            content=MessageContent(
                at=message.received_at.astimezone(UTC), text=message.body,
                author_id=message.from_number,
                customer=Customer(phone=message.from_number, profile_id=message.profile_id),
                subject=None, tags=message.tags, segments=message.segments),
        )
    if isinstance(message, EmailMessage):
        sender = message.from_email.lower()
        return ThreadingPlan(
            account_id=message.account_id, channel="email", message_id=message.message_id,
            thread_key="", email_refs=email_references(message),
            subject_number=subject_ticket_number(message.subject),
            token_customer_keys=token_customer_keys(message.profile_id, sender),
            customer_key=customer_key(message.profile_id, f"email:{sender}"),
            new_ticket_id=ticket_id_for(message.account_id, "email", message.message_id),
            content=MessageContent(
                at=message.received_at.astimezone(UTC), text=message.text, author_id=sender,
                customer=Customer(email=sender, name=message.from_name,
                                  profile_id=message.profile_id),
                subject=message.subject, tags=message.tags, segments=message.segments),
        )
    assert isinstance(message, WebchatMessage)
    visitor = message.visitor
    return ThreadingPlan(
        account_id=message.account_id, channel="webchat", message_id=message.message_id,
        thread_key=f"webchat:{message.session_id}", email_refs=[], subject_number=None,
        token_customer_keys=[],
        customer_key=customer_key(
            visitor.profile_id,
            f"email:{visitor.email.lower()}" if visitor.email else f"session:{message.session_id}"),
        new_ticket_id=ticket_id_for(message.account_id, "webchat", message.message_id),
        content=MessageContent(
            at=message.sent_at.astimezone(UTC), text=message.text,
            author_id=visitor.profile_id or visitor.email or message.session_id,
            customer=Customer(email=visitor.email, name=visitor.name,
                              profile_id=visitor.profile_id),
            subject=None, tags=message.tags, segments=message.segments),
    )
