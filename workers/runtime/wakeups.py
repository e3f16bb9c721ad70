"""What wakes a sleeping timer loop (the closer's fires, the router's opening sweep): a
newly scheduled earlier countdown, a settings change, or (with the controlled clock) a test
moving time. Redis pub/sub, never polling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from workers.runtime.failures import Backoff, is_transient

log = logging.getLogger(__name__)

SAFETY_WAIT_S = 30.0
"""The longest a loop sleeps on pub/sub alone: a message lost while reconnecting then
delays a fire by at most this much instead of forever."""


class Wakeups:
    """An event set by pub/sub messages on some channels, or locally by `poke()`."""

    def __init__(self, client: Any, channels: list[str]) -> None:
        self._client = client
        self._channels = channels
        self._event = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before the first look at the timers, so no wake-up falls in between."""
        if not self._channels:  # nothing to hear: sleep for the time asked only
            return
        self._task = asyncio.create_task(self._listen(), name="wakeups")
        await self._subscribed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def poke(self) -> None:
        """Wake the loop from inside this process."""
        self._event.set()

    def clear(self) -> None:
        """Forget wake-ups so far; the loop is about to look at the timers."""
        self._event.clear()

    async def wait(self, seconds: float | None) -> None:
        """Sleep until woken, or `seconds` of real time (capped by SAFETY_WAIT_S)."""
        timeout = SAFETY_WAIT_S if seconds is None else max(0.0, min(seconds, SAFETY_WAIT_S))
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass

    async def _listen(self) -> None:
        backoff = Backoff()
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(*self._channels)
                self._subscribed.set()
                self.poke()  # anything published while (re)connecting was missed
                backoff.reset()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._event.set()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("wake-ups lost their subscription: %s", exc)
                await backoff.pause()
            finally:
                await pubsub.aclose()
