"""Internal `timers` topic: what the closer must know about ticket activity (C2, C3, C5).

Internal to ticketflow; may change without notice to outside consumers.
"""

from __future__ import annotations

from typing import Union

from schemas.common import AccountId, Id, Timestamp, Wire


class CountdownStart(Wire, tag_field="type", tag="countdown.start"):
    """The first agent/AI message after the customer's last one starts the countdown (C2).

    `version` is the ticket's activity version when it started; a newer customer
    message raises the version and makes this countdown stale (C6).
    """

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    version: int
    started_at: Timestamp


class CountdownCancel(Wire, tag_field="type", tag="countdown.cancel"):
    """A customer message cancels any running countdown (C2)."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    version: int
    at: Timestamp


class CustomerTyping(Wire, tag_field="type", tag="customer.typing"):
    """The customer is typing: a close due within the grace period waits (C3, I5)."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    at: Timestamp


TimerEvent = Union[CountdownStart, CountdownCancel, CustomerTyping]
