"""The topic catalogue and the only JSON encoder/decoder for wire data."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from schemas.agent_app import Presence, TicketCommand
from schemas.config import AccountDocument
from schemas.events import DeadLetter, Notification, TicketEvent
from schemas.handoff import HandoffRequest, HandoffResult
from schemas.inbound import EmailMessage, SmsMessage, WebchatRecord
from schemas.internal import TimerEvent

MAX_RECORD_BYTES = 1_048_576
"""Records above 1 MiB are refused before decoding (the broker's default limit)."""

TOPICS: dict[str, Any] = {
    "inbound.sms": SmsMessage,
    "inbound.email": EmailMessage,
    "inbound.webchat": WebchatRecord,
    "agents.presence": Presence,
    "tickets.commands": TicketCommand,
    "accounts.config": AccountDocument,
    "handoff.requests": HandoffRequest,
    "handoff.results": HandoffResult,
    "tickets.events": TicketEvent,
    "notifications": Notification,
    "deadletter": DeadLetter,
    "timers": TimerEvent,
}
"""Logical topic name -> the type of its records (a Union for tagged topics)."""

PUBLIC_TOPICS = tuple(name for name in TOPICS if name != "timers")

T = TypeVar("T")


class DecodeError(ValueError):
    """A record that is not valid for its topic; the message says why."""


_encoder = msgspec.json.Encoder()
_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(kind) for name, kind in TOPICS.items()
}


def encode(value: msgspec.Struct) -> bytes:
    """Encode a wire Struct as compact JSON."""
    return _encoder.encode(value)


def decode(topic: str, data: bytes | None) -> Any:
    """Decode and validate a record of a logical topic, or raise DecodeError with the reason."""
    if data is None:
        raise DecodeError("empty record (null value)")
    if len(data) > MAX_RECORD_BYTES:
        raise DecodeError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES} bytes")
    try:
        return _decoders[topic].decode(data)
    except msgspec.ValidationError as exc:
        raise DecodeError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None


def json_schema(topic: str) -> dict[str, Any]:
    """The JSON Schema of a topic's records, for outside producers and consumers."""
    return msgspec.json.schema(TOPICS[topic])
