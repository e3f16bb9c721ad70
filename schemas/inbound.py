"""Records published by channel providers on `inbound.sms`, `inbound.email`, `inbound.webchat`."""

from __future__ import annotations

from typing import Literal, Union

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


class SmsMessage(Wire):
    """An SMS from a customer number to a shop number (key: customer number)."""

    account_id: AccountId
    message_id: Id
    from_number: Phone
    to_number: Phone
    body: Body
    received_at: Timestamp
    profile_id: Id | None = None
    tags: list[Label] = []
    segments: list[Label] = []
    media_urls: list[Url] = []


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
    references: list[Id] = []
    profile_id: Id | None = None
    tags: list[Label] = []
    segments: list[Label] = []


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
    tags: list[Label] = []
    segments: list[Label] = []


class WebchatTyping(Wire, tag_field="type", tag="typing"):
    """The visitor is typing; delays auto-close (SPEC C3)."""

    account_id: AccountId
    session_id: Id
    at: Timestamp


WebchatRecord = Union[WebchatMessage, WebchatTyping]
InboundMessage = Union[SmsMessage, EmailMessage, WebchatMessage]


__all__ = [
    "Channel",
    "EmailMessage",
    "InboundMessage",
    "SmsMessage",
    "Visitor",
    "WebchatMessage",
    "WebchatRecord",
    "WebchatTyping",
]
