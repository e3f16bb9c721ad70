"""Waiting tickets get assigned when hours begin, an agent comes online (R4) or a place
frees (R12)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from schemas.config import AccountDocument
from schemas.events import BacklogReason, TicketAssigned
from workers.router.outputs import assignment_events, count_assignments
from workers.router.rotation import ACCOUNT_POOL, rotation_pool
from workers.router.store import DrainPool, RouterStore
from workers.runtime.clock import Clock
from workers.runtime.failures import Backoff
from workers.runtime.ids import event_id
from workers.runtime.records import Outgoing
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.business_hours import current_opening, is_open, next_opening

log = logging.getLogger(__name__)

MAX_IDLE = timedelta(seconds=30)
"""Longest sleep between checks, so settings changes that open hours are noticed."""


async def drain_pools(store: RouterStore, account: AccountDocument, pools: list[str], *,
                      trigger: str, reason: BacklogReason, at: datetime, now: datetime,
                      ) -> list[TicketAssigned]:
    """Assign the waiting tickets of these pools by priority, then arrival, each to an
    eligible agent by the account's method (R4, R12), once per trigger."""
    changes = await store.drain(account, [DrainPool(
        pool=pool, agents=rotation_pool(account, None if pool == ACCOUNT_POOL else pool),
        mark=store.mark(account.account_id, "drain", trigger, pool),
        prefix=event_id("backlog", account.account_id, trigger, pool)[:16] + "-")
        for pool in pools], reason=reason, at=at, now=now)
    count_assignments(account.account_id, changes)
    return changes


def may_drain(account: AccountDocument, now: datetime) -> bool:
    """Whether waiting tickets may be assigned now: automatic assignment on and hours open
    (R4), or a solo account (R8, which ignores both)."""
    if len(account.agents) == 1:
        return True
    return account.round_robin and is_open(account.business_hours, now)


async def drain_freed(store: RouterStore, account: AccountDocument, *, trigger: str,
                      at: datetime, now: datetime) -> list[TicketAssigned]:
    """A place may have freed (a ticket closed, snoozed, transferred, unassigned or
    reassigned, a capacity raised): assign what waits and now fits (R12, `capacity_freed`)."""
    if not may_drain(account, now):
        return []
    return await drain_pools(store, account, all_pools(account), trigger=trigger,
                             reason="capacity_freed", at=at, now=now)


def all_pools(account: AccountDocument) -> list[str]:
    """Every pool of the account: its teams, then the account's own."""
    return [team.id for team in account.teams] + [ACCOUNT_POOL]


async def sweep_openings(store: RouterStore, registry: AccountRegistry, clock: Clock,
                         wakeups: Wakeups,
                         publish: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Each time an account's hours begin, drain its backlogs (every replica runs this; the
    drain mark names the opening, so only the first replica assigns).

    One account's failure is logged and retried later on its own, with a growing delay: it
    never stops the sweep for the accounts after it (A1).
    """
    handled: dict[str, datetime] = {}
    failures: dict[str, int] = {}
    idle: list[float] = []

    async def one_pass() -> None:
        now = await clock.now()
        wake_at = now + MAX_IDLE
        for account in registry.all():
            if not account.round_robin or account.business_hours is None:
                continue
            opened = current_opening(account.business_hours, now)
            if opened is None:
                upcoming = next_opening(account.business_hours, now)
                if upcoming is not None:
                    wake_at = min(wake_at, upcoming)
                continue
            if handled.get(account.account_id) == opened:
                continue
            try:
                await _drain_opening(store, account, opened, now, publish)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures[account.account_id] = failures.get(account.account_id, 0) + 1
                delay = retry_delay(failures[account.account_id])
                log.exception("opening sweep failed for %s; retrying it in %.0f s",
                              account.account_id, delay.total_seconds())
                wake_at = min(wake_at, now + delay)
                continue
            handled[account.account_id] = opened
            failures.pop(account.account_id, None)
        idle[:] = [(wake_at - now).total_seconds()]

    backoff = Backoff()  # a Redis outage under the clock's read: waited out
    await wakeups.start()
    try:
        while True:
            wakeups.clear()
            if await backoff.attempt("opening sweep", one_pass):
                await wakeups.wait(idle[0])
    finally:
        await wakeups.stop()


DOCUMENT_POLL = timedelta(seconds=0.5)
"""How often the document watch looks at the registry (memory only, no Redis)."""


async def watch_documents(store: RouterStore, registry: AccountRegistry, clock: Clock,
                          publish: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Each account version the replica sees (at start, and each new document: a capacity
    raised, an agent added) drains the queue once, under the mark `doc:<version>`, so a
    replica started after a change still drains for it and replicas do not assign twice."""
    drained: dict[str, int] = {}
    while True:
        for account in registry.all():
            if drained.get(account.account_id) == account.version:
                continue
            try:
                now = await clock.now()
                changes = await drain_freed(store, account, trigger=f"doc:{account.version}",
                                            at=now, now=now)
                await publish([out for change in changes
                               for out in assignment_events(account, change)])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("document drain failed for %s; retrying", account.account_id)
                continue
            drained[account.account_id] = account.version
        await asyncio.sleep(DOCUMENT_POLL.total_seconds())


def retry_delay(failures: int) -> timedelta:
    """How long an account whose opening drain failed `failures` times in a row waits before
    the next try: 1 s, doubling, at most MAX_IDLE."""
    return min(timedelta(seconds=2 ** min(failures - 1, 16)), MAX_IDLE)


async def _drain_opening(store: RouterStore, account: AccountDocument, opened: datetime,
                         now: datetime,
                         publish: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    trigger = f"open:{opened.isoformat()}"
    changes = await drain_pools(store, account, all_pools(account), trigger=trigger,
                                reason="hours_opened", at=opened, now=now)
    await publish([out for change in changes for out in assignment_events(account, change)])
    if changes:
        log.info("hours began for %s: %d waiting tickets assigned", account.account_id,
                 len(changes))
