"""Bounded retries for helpdesk calls (H6): 429, 5xx and timeouts back off with jitter and
honour `Retry-After`; any other 4xx fails at once.

The bound matters as much as the backoff: a batch is not committed, and its partition
does not move on, until every handoff in it has an outcome. So every handoff has a deadline
well inside the consumer group's max poll interval; when the next wait would cross it,
the handoff fails (with the reason) instead of stalling the partition.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from workers.runtime.settings import Settings


class HelpdeskError(Exception):
    """A helpdesk call that did not succeed; `reason` is safe to log and publish."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientHelpdeskError(HelpdeskError):
    """Worth retrying: 429, 5xx, timeouts, refused connections.

    `ambiguous` is true when the helpdesk may have acted anyway (a 5xx or a lost response):
    the next attempt then looks the ticket up before creating one.
    """

    def __init__(self, reason: str, retry_after: float | None = None,
                 ambiguous: bool = True) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class PermanentHelpdeskError(HelpdeskError):
    """Retrying cannot help: bad credentials, a refused payload, a missing secret."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts, how long between them, and how long in all."""

    max_attempts: int
    base_s: float
    max_s: float
    budget_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_attempts=max(1, settings.handoff_max_attempts),
                   base_s=settings.handoff_backoff_base_s,
                   max_s=settings.handoff_backoff_max_s,
                   budget_s=settings.handoff_budget_s)

    def delay(self, attempt: int, retry_after: float | None,
              rng: Callable[[], float] = random.random) -> float:
        """Wait before attempt `attempt + 1`: full jitter over an exponential ceiling, but
        never less than the helpdesk's `Retry-After`."""
        ceiling = min(self.max_s, self.base_s * (2 ** (attempt - 1)))
        jittered = ceiling * (0.5 + 0.5 * rng())
        if retry_after is not None:
            return max(retry_after, jittered)
        return jittered


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (the helpdesks send delta-seconds); None if absent or odd."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


async def with_retries(call: Callable[[bool], Awaitable[str]], policy: RetryPolicy,
                       remaining: Callable[[], float],
                       sleep: Callable[[float], Awaitable[None]],
                       look_up_first: bool = False) -> str:
    """Run `call(look_up_first)` until it returns, retrying transient failures.

    Raises PermanentHelpdeskError at the first permanent failure, or when attempts or the
    time budget run out (the reason says which and what the last failure was).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call(look_up_first)
        except TransientHelpdeskError as exc:
            look_up_first = look_up_first or exc.ambiguous
            if attempt >= policy.max_attempts:
                raise PermanentHelpdeskError(
                    f"gave up after {attempt} attempts: {exc.reason}") from exc
            wait = policy.delay(attempt, exc.retry_after)
            if wait >= remaining():
                raise PermanentHelpdeskError(
                    f"gave up after {attempt} attempts: {exc.reason} (next retry in "
                    f"{wait:.1f}s would exceed the {policy.budget_s:.1f}s retry budget)"
                ) from exc
            await sleep(wait)
