"""The time source of every decision that depends on "now", injectable so tests need not
wait days (auto-close) or for Monday morning (business hours).

`TICKETFLOW_CLOCK=redis` makes a process read "now" from a Redis key that tests set and
advance (`ControlledClock`); anything else is the system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol


class Clock(Protocol):
    async def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    async def now(self) -> datetime:
        return datetime.now(UTC)


class ControlledClock:
    """Time as set by a test in Redis key `key` (`Keys.clock`: `<prefix>:clock`; epoch
    seconds, float).

    Setting the key also publishes on a channel of the same name, so sleepers can wake when
    the test moves time instead of polling.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    async def now(self) -> datetime:
        value = await self.client.get(self.key)
        if value is None:
            return datetime.now(UTC)
        return datetime.fromtimestamp(float(value), UTC)

    async def set(self, instant: datetime) -> None:
        """Move time to `instant` and tell every waiting process."""
        await self.client.set(self.key, repr(instant.timestamp()))
        await self.client.publish(self.key, repr(instant.timestamp()))


def make_clock(kind: str, client: Any, *, key: str) -> Clock:
    """The clock a worker uses, from the `clock` setting; `key` is where a controlled
    clock keeps the time (`Keys.clock`)."""
    if kind == "redis":
        return ControlledClock(client, key)
    return SystemClock()
