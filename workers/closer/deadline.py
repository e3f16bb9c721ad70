"""When a countdown is due, and what a due countdown should do (C1-C3, C6).

Pure functions over plain values: the fire loop reads Redis, asks `decide_fire`, and
applies the answer with a compare-and-set script, so a decision made on state that
changed in between is never applied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from schemas.config import AutoClose

DAY = timedelta(days=1)


class Countdown(msgspec.Struct, frozen=True):
    """A running countdown as the closer stores it.

    `version` is the ticket's activity version when the countdown started: a newer
    customer message raises the ticket's version and makes the countdown stale.
    """

    version: int
    started_at: datetime
    typing_at: datetime | None = None

    def encode(self) -> str:
        """The compact form kept in Redis (`<version> <started> <typing or ->`)."""
        typing = "-" if self.typing_at is None else repr(self.typing_at.timestamp())
        return f"{self.version} {self.started_at.timestamp()!r} {typing}"

    @classmethod
    def decode(cls, stored: str) -> Countdown:
        version, started, typing = stored.split(" ")
        return cls(int(version), _instant(float(started)),
                   None if typing == "-" else _instant(float(typing)))


class TicketState(msgspec.Struct, frozen=True):
    """The parts of a ticket a fire depends on."""

    version: int
    status: str


class Close(msgspec.Struct, frozen=True):
    """Close the ticket now."""

    previous_status: Literal["open", "snoozed"]


class Postpone(msgspec.Struct, frozen=True):
    """Not due yet (typing, or a longer period since it was scheduled): look again then."""

    until: datetime


class Discard(msgspec.Struct, frozen=True):
    """The countdown is stale and will never close anything."""

    reason: str


FireDecision = Close | Postpone | Discard


def inactivity_period(auto_close: AutoClose) -> timedelta:
    """The account's inactivity period (C1: 1-90 days)."""
    return auto_close.days * DAY


def typing_grace(auto_close: AutoClose) -> timedelta:
    """How long a customer typing holds off a close (C3)."""
    return timedelta(seconds=auto_close.typing_grace_seconds)


def inactivity_deadline(started_at: datetime, period: timedelta,
                        last_typing_at: datetime | None, grace: timedelta) -> datetime:
    """The instant a countdown closes its ticket: the period after it started, or the
    grace after the customer last typed, whichever is later (C1, C3)."""
    deadline = started_at + period
    if last_typing_at is not None:
        deadline = max(deadline, last_typing_at + grace)
    return deadline


def decide_fire(countdown: Countdown, ticket: TicketState | None, auto_close: AutoClose,
                now: datetime) -> FireDecision | None:
    """What a countdown that looks due should do under the account's current settings.

    None means: leave it as it is (auto-close is off; it fires if it is turned on again).
    """
    if ticket is None:
        return Discard("ticket does not exist")
    if ticket.version != countdown.version:
        return Discard(f"stale: ticket activity version {ticket.version}, "
                       f"countdown version {countdown.version}")
    if ticket.status not in ("open", "snoozed"):
        return Discard(f"ticket is {ticket.status}")
    if not auto_close.enabled:
        return None
    deadline = inactivity_deadline(countdown.started_at, inactivity_period(auto_close),
                                   countdown.typing_at, typing_grace(auto_close))
    if deadline > now:
        return Postpone(deadline)
    return Close(ticket.status)  # type: ignore[arg-type]


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
