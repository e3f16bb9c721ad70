"""`message` adapter (H2): no ticket, no human; the visitor sees the account's custom text
(with its links) in place of a handoff."""

from __future__ import annotations

from schemas.config import AccountDocument


def custom_message(account: AccountDocument) -> str:
    """The account's handoff message; the document cannot set method `message` without it."""
    return account.handoff.message or ""
