"""The topic catalogue and the only JSON encoder/decoder for wire data."""

from __future__ import annotations

import re
from itertools import accumulate
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


MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a record may have. Our deepest Struct (an account
document's rule conditions) nests 6 levels; far deeper input would exhaust the decoder's
recursion (RecursionError) instead of being refused."""


class DecodeError(ValueError):
    """A record that is not valid for its topic; the message says why in our words, and
    `code` classifies it: null, too_large, not_utf8, not_json, too_deep or invalid_field."""

    def __init__(self, reason: str, code: str = "invalid_field") -> None:
        super().__init__(reason)
        self.code = code


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
        raise DecodeError("empty record (null value)", "null")
    if len(data) > MAX_RECORD_BYTES:
        raise DecodeError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES} bytes",
                          "too_large")
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise DecodeError(f"nested {depth} levels deep, deeper than {MAX_JSON_DEPTH}",
                          "too_deep")
    try:
        return _decoders[topic].decode(data)
    except msgspec.ValidationError as exc:
        raise DecodeError(field_reason(str(exc))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise DecodeError(f"not valid UTF-8: invalid byte at offset {bad.start}",
                              "not_utf8") from None
        raise DecodeError(f"not valid JSON: {exc}", "not_json") from None
    except RecursionError:  # a safety net: json_depth should have refused it already
        raise DecodeError("nested too deep to decode", "too_deep") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, counted at C speed: most
    records hold too few brackets to be deep, and strings are skipped before counting."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


_AT = re.compile(r"^(?P<detail>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def field_reason(message: str) -> str:
    """A validation failure as `field <path>: <what is wrong>`: the path is the part every
    reason has in our words (the detail comes from msgspec and may change with it)."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    detail, path = match["detail"], match["path"] or "$"
    missing = _MISSING.match(detail)
    if missing:
        return f"field {path}.{missing['field']}: required field is missing"
    return f"field {path}: {detail}"


def json_schema(topic: str) -> dict[str, Any]:
    """The JSON Schema of a topic's records, for outside producers and consumers."""
    return msgspec.json.schema(TOPICS[topic])
