"""Records published by channel providers on `inbound.sms`, `inbound.email`, `inbound.webchat`."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

from schemas.common import (
    AccountId,
    Body,
    Email,
    Id,
    Label,
    Name,
    Phone,
    Subject,
    Timestamp,
    Url,
    Wire,
)

Channel = Literal["sms", "email", "webchat"]

# Every list is bounded as every string is (schemas/common.py), so that no inbound record
# yields an event over what the producer can publish (tests/ingest/test_limits.py builds the
# largest record and measures its events) nor work without bound. README "Limits on inbound
# records" gives the reasons.
MAX_LABELS = 50
"""Tags, and segments, on one message."""
MAX_MEDIA_URLS = 10
"""Media on one SMS: an MMS carries at most 10 (Twilio's limit)."""
MAX_REFERENCES = 2000
"""Ids in an email's References: about 100 KB of header, Postfix's default header limit;
only the newest are looked up (workers/ingest/threading.py)."""

Labels = Annotated[list[Label], msgspec.Meta(max_length=MAX_LABELS)]
MediaUrls = Annotated[list[Url], msgspec.Meta(max_length=MAX_MEDIA_URLS)]
References = Annotated[list[Id], msgspec.Meta(max_length=MAX_REFERENCES)]


class SmsMessage(Wire):
    """An SMS from a customer number to a shop number (key: customer number)."""

    account_id: AccountId
    message_id: Id
    from_number: Phone
    to_number: Phone
    body: Body
    received_at: Timestamp
    profile_id: Id | None = None
    tags: Labels = []
    segments: Labels = []
    media_urls: MediaUrls = []


class EmailMessage(Wire):
    """An email from a customer (key: sender address, lower-cased)."""

    account_id: AccountId
    message_id: Id
    from_email: Email
    to_email: Email
    received_at: Timestamp
    text: Body
    subject: Subject = ""
    from_name: Name | None = None
    in_reply_to: Id | None = None
    references: References = []
    profile_id: Id | None = None
    tags: Labels = []
    segments: Labels = []


class Visitor(Wire):
    """Who is on the other side of a web chat session."""

    email: Email | None = None
    name: Name | None = None
    profile_id: Id | None = None
    authenticated: bool = False


class WebchatMessage(Wire, tag_field="type", tag="message"):
    """A visitor's chat message (key: session id)."""

    account_id: AccountId
    message_id: Id
    session_id: Id
    text: Body
    sent_at: Timestamp
    visitor: Visitor = Visitor()
    tags: Labels = []
    segments: Labels = []


class WebchatTyping(Wire, tag_field="type", tag="typing"):
    """The visitor is typing; delays auto-close (SPEC C3)."""

    account_id: AccountId
    session_id: Id
    at: Timestamp


WebchatRecord = Union[WebchatMessage, WebchatTyping]
InboundMessage = Union[SmsMessage, EmailMessage, WebchatMessage]


__all__ = [
    "MAX_LABELS",
    "MAX_MEDIA_URLS",
    "MAX_REFERENCES",
    "Channel",
    "EmailMessage",
    "InboundMessage",
    "SmsMessage",
    "Visitor",
    "WebchatMessage",
    "WebchatRecord",
    "WebchatTyping",
]
