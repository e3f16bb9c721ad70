"""The fire loop: sleep until the next countdown is due, then claim and close (C1, C4, C6).

Every replica runs one. Several may look at the same account at once: each close is a
compare-and-set script, so only one of them closes a ticket and the others find nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from workers.closer.countdowns import CountdownStore, DueCountdown, PendingClose
from workers.closer.deadline import Close, Discard, Postpone, decide_fire, inactivity_period
from workers.closer.due_index import DueIndex
from workers.closer.events import inactivity_close_events
from workers.runtime.clock import Clock
from workers.runtime.failures import Backoff
from workers.runtime.records import Outgoing
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
"""How long a claimed close waits for its events to be published before another replica
re-publishes them (only after a crash between the close and the publish)."""

Publish = Callable[[list[Outgoing]], Awaitable[None]]


class FireLoop:
    """Fires due countdowns of every account until stopped."""

    def __init__(self, store: CountdownStore, index: DueIndex, registry: AccountRegistry,
                 clock: Clock, wakeups: Wakeups, publish: Publish,
                 batch_size: int = 500) -> None:
        self._store = store
        self._index = index
        self._registry = registry
        self._clock = clock
        self._wakeups = wakeups
        self._publish = publish
        self._batch = batch_size
        self._stopping = asyncio.Event()
        self._reindex: set[str] = set()
        self.closed = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wakeups.poke()

    def settings_changed(self, account_id: str) -> None:
        """An account's auto-close settings changed: its hint may have to move earlier."""
        self._reindex.add(account_id)
        self._wakeups.poke()

    async def run(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            await backoff.attempt("closer fire pass", self._pass)

    async def _pass(self) -> None:
        self._wakeups.clear()
        await self._apply_settings_changes()
        now = await self._clock.now()
        if await self.fire_due(now) or self._stopping.is_set():
            return
        next_due = await self._index.next_due()
        # Sleep until the next due time, or until woken: by a newly scheduled earlier
        # countdown, a settings change, or (controlled clock) a test moving time.
        await self._wakeups.wait(None if next_due is None else next_due - now.timestamp())

    async def fire_due(self, now: datetime) -> bool:
        """Fire everything due at `now`; True if a batch limit left more to do."""
        accounts = await self._index.due_accounts(now.timestamp(), self._batch)
        busy = False
        for account_id in accounts:
            busy |= await self.fire_account(account_id, now)
        return busy

    async def fire_account(self, account_id: str, now: datetime) -> bool:
        """Close an account's due tickets, re-publish expired closes, refresh its hint."""
        document = self._registry.get(account_id)
        auto_close = document.auto_close if document is not None else None
        enabled = auto_close is not None and auto_close.enabled
        lease_until = (now + LEASE).timestamp()
        pending = await self._store.expired_closes(account_id, now.timestamp(), self._batch)
        busy = len(pending) >= self._batch
        if enabled:
            assert auto_close is not None
            period = inactivity_period(auto_close)
            due = await self._store.due(account_id, (now - period).timestamp(), self._batch)
            busy |= len(due) >= self._batch
            pending += await self._settle(account_id, due, auto_close, now, lease_until)
        if pending:
            events = [e for c in pending for e in inactivity_close_events(
                account_id, c.ticket_id, c.version, c.previous_status, c.closed_at)]
            await self._publish(events)
            await self._store.acknowledge(account_id, pending)
            self.closed += len(pending)
            log.info("closed %d tickets of %s for inactivity", len(pending), account_id)
        await self._refresh_hint(account_id)
        return busy

    async def _settle(self, account_id: str, due: list[DueCountdown], auto_close: object,
                      now: datetime, lease_until: float) -> list[PendingClose]:
        if not due:
            return []
        period = inactivity_period(auto_close)  # type: ignore[arg-type]
        calls = self._store.pipeline()
        queued: list[bool] = []  # per queued script: is it a close?
        for item in due:
            decision = (Discard("countdown missing") if item.countdown is None else
                        decide_fire(item.countdown, item.ticket, auto_close, now))  # type: ignore[arg-type]
            if isinstance(decision, Close):
                await self._store.close(calls, account_id, item, now, lease_until)
            elif isinstance(decision, Postpone):
                await self._store.reschedule(calls, account_id, item,
                                             (decision.until - period).timestamp())
            elif isinstance(decision, Discard):
                log.debug("countdown of %s dropped: %s", item.ticket_id, decision.reason)
                await self._store.reschedule(calls, account_id, item, None)
            else:
                continue
            queued.append(isinstance(decision, Close))
        if not queued:
            return []
        results = await calls.execute()
        return [PendingClose.parse(r) for r, is_close in zip(results, queued, strict=True)
                if is_close and r]

    async def _refresh_hint(self, account_id: str) -> None:
        """Set the account's hint from its zsets, then lower it again if a countdown was
        scheduled between our read and our write (see due_index)."""
        first = await self._next_due_of(account_id)
        await self._index.set(account_id, first)
        second = await self._next_due_of(account_id)
        if second is not None and (first is None or second < first):
            await self._index.lower({account_id: second})

    async def _next_due_of(self, account_id: str) -> float | None:
        timer, lease = await self._store.earliest(account_id)
        document = self._registry.get(account_id)
        candidates = [] if lease is None else [lease]
        if timer is not None and document is not None and document.auto_close.enabled:
            candidates.append(timer + inactivity_period(document.auto_close).total_seconds())
        return min(candidates) if candidates else None

    async def _apply_settings_changes(self) -> None:
        while self._reindex:
            account_id = self._reindex.pop()
            due = await self._next_due_of(account_id)
            if due is not None:
                await self._index.lower({account_id: due})
