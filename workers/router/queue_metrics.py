"""How many tickets wait in each account's queue (R12), as a Prometheus gauge (X4).

A background loop reads the sizes every few seconds, off the routing path: routing and
drains never wait for it, and the cost is one cheap read per account per interval, the
same on every router replica (the queue is shared, so every replica reports the same
number; the dashboard takes the largest).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import Gauge

from workers.runtime.metrics import REGISTRY
from workers.state.accounts import AccountRegistry

log = logging.getLogger(__name__)

QUEUE_LENGTH = Gauge("ticketflow_queue_length",
                     "Tickets waiting in the router's queue (R12; shared across replicas)",
                     ["account"], registry=REGISTRY)

INTERVAL_S = 5.0
"""Seconds between two reads: a few scrape intervals' worth of freshness, no more."""

CONCURRENCY = 32
"""Accounts read at once: many accounts cost a few round trips, not one each in turn."""

QueueSize = Callable[[str], Awaitable[int]]


async def record_queue_lengths(size: QueueSize, account_ids: Iterable[str],
                               shown: set[str]) -> set[str]:
    """Set the gauge for each account and drop the accounts no longer there (`shown`: the
    accounts the previous call set); returns the accounts set now."""
    ids = list(dict.fromkeys(account_ids))
    for start in range(0, len(ids), CONCURRENCY):
        chunk = ids[start:start + CONCURRENCY]
        for account_id, length in zip(chunk, await asyncio.gather(*map(size, chunk)),
                                      strict=True):
            QUEUE_LENGTH.labels(account_id).set(length)
    for gone in shown - set(ids):
        QUEUE_LENGTH.remove(gone)
    return set(ids)


async def watch_queue_lengths(size: QueueSize, registry: AccountRegistry, *,
                              interval_s: float = INTERVAL_S) -> None:
    """Every `interval_s`, the queue length of every account the replica knows. A failed
    read (Redis away) keeps the last values and is tried again at the next interval: a
    metric never stops the replica."""
    shown: set[str] = set()
    failing = False
    while True:
        try:
            shown = await record_queue_lengths(
                size, (account.account_id for account in registry.all()), shown)
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                log.warning("queue length not read (%r); trying again every %.0f s", exc,
                            interval_s)
            failing = True
        await asyncio.sleep(interval_s)
