"""Waiting tickets get assigned when hours begin or an agent comes online (R4)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from schemas.config import AccountDocument
from schemas.events import TicketAssigned
from workers.router.outputs import assignment_events, count_assignments
from workers.router.rotation import ACCOUNT_POOL, rotation_pool
from workers.router.store import RouterStore
from workers.runtime.clock import Clock
from workers.runtime.ids import event_id
from workers.runtime.records import Outgoing
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.business_hours import current_opening, next_opening

log = logging.getLogger(__name__)

MAX_IDLE = timedelta(seconds=30)
"""Longest sleep between checks, so settings changes that open hours are noticed."""


async def drain_pools(store: RouterStore, account: AccountDocument, pools: list[str], *,
                      trigger: str, at: datetime, now: datetime) -> list[TicketAssigned]:
    """Assign the waiting tickets of these pools in arrival order, once per trigger."""
    sizes = await store.backlog_sizes(account, pools)
    changes: list[TicketAssigned] = []
    for pool in pools:
        if not sizes[pool]:
            continue
        team = None if pool == ACCOUNT_POOL else pool
        changes += await store.drain(
            account, pool, rotation_pool(account, team),
            mark=store.mark(account.account_id, "drain", trigger, pool),
            event_prefix=event_id("backlog", account.account_id, trigger, pool)[:16] + "-",
            at=at, now=now)
    count_assignments(account.account_id, changes)
    return changes


def _pools(account: AccountDocument) -> list[str]:
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
    await wakeups.start()
    while True:
        try:
            wakeups.clear()
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
            await wakeups.wait((wake_at - now).total_seconds())
        except asyncio.CancelledError:
            await wakeups.stop()
            raise
        except Exception:
            log.exception("opening sweep failed; retrying")
            await asyncio.sleep(1)


def retry_delay(failures: int) -> timedelta:
    """How long an account whose opening drain failed `failures` times in a row waits before
    the next try: 1 s, doubling, at most MAX_IDLE."""
    return min(timedelta(seconds=2 ** min(failures - 1, 16)), MAX_IDLE)


async def _drain_opening(store: RouterStore, account: AccountDocument, opened: datetime,
                         now: datetime,
                         publish: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    trigger = f"open:{opened.isoformat()}"
    changes = await drain_pools(store, account, _pools(account), trigger=trigger, at=opened,
                                now=now)
    await publish([out for change in changes for out in assignment_events(account, change)])
    if changes:
        log.info("hours began for %s: %d waiting tickets assigned", account.account_id,
                 len(changes))
