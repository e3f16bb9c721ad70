"""Which failures are outages of the services (retried, nothing committed) and which are
the record's own fault (dead-lettered): the one classification every loop uses (I1, X1).

A Redis that is out of memory, read-only (a failover in progress), busy with a slow
script, unable to persist, loading, resharding or refusing our ACL user answers every
command with an error until an operator or the cluster fixes it; the record is fine and
must be applied once Redis is back, never dead-lettered and committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.exceptions
from aiokafka.errors import KafkaError, KafkaTimeoutError

_SERVICE_ERRORS = (
    redis.exceptions.ConnectionError,  # includes AuthenticationError (NOAUTH, WRONGPASS)
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,  # LOADING
    redis.exceptions.TryAgainError,  # TRYAGAIN
    redis.exceptions.ClusterDownError,  # CLUSTERDOWN
    redis.exceptions.MasterDownError,  # MASTERDOWN
    redis.exceptions.OutOfMemoryError,  # OOM
    redis.exceptions.ReadOnlyError,  # READONLY
    redis.exceptions.NoPermissionError,  # NOPERM: an ACL change, fixed by an operator
    KafkaTimeoutError,
    OSError,
)

log = logging.getLogger(__name__)

TRANSIENT_REPLY_CODES = frozenset({"BUSY", "MISCONF", "NOREPLICAS", "UNBLOCKED"})
"""Error replies that redis-py has no class for: they reach us as a plain ResponseError
whose text starts with the code."""


def is_transient(exc: BaseException) -> bool:
    """A failure of the services, not of the record: the batch is retried, never dropped."""
    if isinstance(exc, _SERVICE_ERRORS):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    if isinstance(exc, redis.exceptions.ResponseError):
        return str(exc).split(" ", 1)[0] in TRANSIENT_REPLY_CODES
    return False


class Backoff:
    """The waits between retries of an outage: 50 ms, doubling up to 2 s, back to 50 ms
    after a success. Short at first (most outages are a blip: a failover, a restart), capped
    so a recovered service is noticed within 2 s. The one backoff of every retry loop."""

    FIRST_S = 0.05
    MAX_S = 2.0

    def __init__(self) -> None:
        self.delay = self.FIRST_S

    def reset(self) -> None:
        """A try succeeded: the next outage starts from the shortest wait."""
        self.delay = self.FIRST_S

    async def attempt(self, what: str, step: Callable[[], Awaitable[object]]) -> bool:
        """Run one step of a retry loop: True when it succeeded; on an outage, log it, wait
        and return False; any other failure is raised (a bug, not an outage)."""
        try:
            await step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("%s failed: %s; retrying in %.2fs", what, exc, self.delay)
            await self.pause()
            return False
        self.reset()
        return True

    async def pause(self) -> None:
        """Wait the current delay, then double it (up to the cap)."""
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.MAX_S)
