"""Closed tickets are forgotten after their retention (default 90 days, or the account's
`closed_retention_days`), so Redis does not grow forever: their routing state (ticket hash,
thread and Message-ID mappings, number, responsibility history) is deleted and a later
message from the customer starts a new ticket, as Zendesk does once a closed ticket is
archived. Events are never deleted: the log keeps every ticket's story.

Every closer replica runs the sweep; the purge script is idempotent, so replicas sweeping
the same account at once forget each ticket once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.config import AccountDocument
from workers.runtime.clock import Clock
from workers.runtime.failures import Backoff
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.keys import Keys
from workers.state.store import load_script

log = logging.getLogger(__name__)
PURGE_SCRIPT = Path(__file__).with_name("purge.lua")

SWEEP_BATCH = 500
"""Tickets looked at per script call: bounds how long one call holds Redis."""


def retention_cutoff(now: datetime, account: AccountDocument, default_days: int) -> datetime:
    """Tickets closed at or before this instant are forgotten."""
    days = account.closed_retention_days or default_days
    return now - timedelta(days=days)


class RetentionSweep:
    """Forgets expired closed tickets of every account, then sleeps until the clock moves
    (controlled clock) or for the wake-ups' safety wait."""

    def __init__(self, settings: Settings, client: Any, registry: AccountRegistry,
                 clock: Clock, wakeups: Wakeups) -> None:
        self._settings = settings
        self._registry = registry
        self._clock = clock
        self._wakeups = wakeups
        self._purge = load_script(client, PURGE_SCRIPT)
        self._stopping = asyncio.Event()
        self.forgotten = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wakeups.poke()

    async def sweep(self) -> int:
        """One pass over every account; returns how many tickets were forgotten."""
        now = await self._clock.now()
        total = 0
        for account in self._registry.all():
            cutoff = retention_cutoff(now, account, self._settings.closed_retention_days)
            base = Keys.of(self._settings).account(account.account_id)
            forgotten = 0
            while True:
                done, looked = await self._purge(keys=[base],
                                                 args=[cutoff.timestamp(), SWEEP_BATCH])
                forgotten += int(done)
                if int(looked) < SWEEP_BATCH:
                    break
            if forgotten:
                log.info("retention: forgot %d closed tickets of %s (closed before %s)",
                         forgotten, account.account_id, cutoff.isoformat())
            total += forgotten
        self.forgotten += total
        return total

    async def run(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            self._wakeups.clear()
            if await backoff.attempt("retention sweep", self.sweep):
                await self._wakeups.wait(None)
