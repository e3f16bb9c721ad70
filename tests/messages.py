"""Builders of valid inbound records for tests (override any field by keyword)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from schemas.inbound import EmailMessage, SmsMessage, Visitor, WebchatMessage, WebchatTyping

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
_n = count(1)


def at(seconds: int = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sms(**fields: object) -> SmsMessage:
    values: dict[str, object] = dict(
        account_id="acme", message_id=f"SM{next(_n)}", from_number="+15551230001",
        to_number="+15557654321", body="Where is my order?", received_at=at())
    values.update(fields)
    return SmsMessage(**values)  # type: ignore[arg-type]


def email(**fields: object) -> EmailMessage:
    values: dict[str, object] = dict(
        account_id="acme", message_id=f"<m{next(_n)}@mail.example>",
        from_email="ana@example.com", from_name="Ana", to_email="help@acme.example",
        subject="Refund", text="I want a refund", received_at=at())
    values.update(fields)
    return EmailMessage(**values)  # type: ignore[arg-type]


def chat(**fields: object) -> WebchatMessage:
    values: dict[str, object] = dict(
        account_id="acme", message_id=f"wc-{next(_n)}", session_id="s-1", text="Hi",
        sent_at=at(), visitor=Visitor())
    values.update(fields)
    return WebchatMessage(**values)  # type: ignore[arg-type]


def typing(**fields: object) -> WebchatTyping:
    values: dict[str, object] = dict(account_id="acme", session_id="s-1", at=at(3))
    values.update(fields)
    return WebchatTyping(**values)  # type: ignore[arg-type]
