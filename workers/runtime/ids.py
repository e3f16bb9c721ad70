"""Ids derived from what caused them, so a replayed input yields the same ids."""

from __future__ import annotations

import hashlib


def _digest(parts: tuple[object, ...], size: int) -> str:
    joined = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hashlib.blake2b(joined, digest_size=size).hexdigest()


def event_id(*cause: object) -> str:
    """A 128-bit hex id that is the same every time the same cause is processed."""
    return _digest(cause, 16)


def ticket_id_for(account_id: str, channel: str, message_id: str) -> str:
    """The id a ticket gets when this message opens it; unique per provider message."""
    return "t-" + _digest((account_id, channel, message_id), 10)
