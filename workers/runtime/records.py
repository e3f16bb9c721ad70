"""The records the consume loop hands to handlers and takes back: what was read, what it
decoded to, and what to publish. Their own module, so that dead letters and the account
reader use them without importing the loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from schemas.config import AccountDocument


@dataclass(frozen=True, slots=True)
class Received:
    """One record as read from the broker, with its logical topic name."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    """The record's broker timestamp: what a dead letter of it is dated, on every copy."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish: a logical topic, a key and a wire Struct."""

    topic: str
    key: str
    value: msgspec.Struct


@dataclass
class Decoded:
    """A record that decoded and validated for its topic."""

    record: Received
    value: Any
    account: AccountDocument | None = None
    """Its account's document, set by the loop's unknown-account check for the kinds that
    run it (the record's account exists); None otherwise."""
