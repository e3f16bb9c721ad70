"""The closer worker: `timers` records become countdowns in Redis, and a fire loop closes
tickets whose countdown ran out (C1-C6)."""

from __future__ import annotations

import logging

from schemas.internal import CountdownCancel, CountdownStart, CustomerTyping
from workers.closer.countdowns import CountdownStore
from workers.closer.deadline import inactivity_period
from workers.closer.due_index import DueIndex
from workers.closer.firing import FireLoop
from workers.closer.retention import RetentionSweep
from workers.closer.watched_accounts import WatchedAccounts
from workers.runtime.clock import ControlledClock
from workers.runtime.consumer import Background
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.replica import Kind, Resources, Wiring
from workers.runtime.wakeups import Wakeups

log = logging.getLogger(__name__)


class TimersHandler:
    """Applies countdown starts, cancels and typing to Redis, in record order."""

    worker = "closer"
    topics = ("timers",)

    def __init__(self, store: CountdownStore, index: DueIndex,
                 registry: WatchedAccounts) -> None:
        self._store = store
        self._index = index
        self._registry = registry

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        calls = self._store.pipeline()
        starts: list[CountdownStart | None] = []
        for item in batch:
            record = item.value
            if isinstance(record, CountdownStart):
                await self._store.start(calls, record.account_id, record.ticket_id,
                                        record.version, record.started_at)
            elif isinstance(record, CountdownCancel):
                await self._store.cancel(calls, record.account_id, record.ticket_id,
                                         record.version)
            elif isinstance(record, CustomerTyping):
                await self._store.typing(calls, record.account_id, record.ticket_id, record.at)
            starts.append(record if isinstance(record, CountdownStart) else None)
        results = await calls.execute()
        hints: dict[str, float] = {}
        for start, started in zip(starts, results, strict=True):
            if start is None or not started:
                continue
            document = self._registry.get(start.account_id)
            if document is None or not document.auto_close.enabled:
                continue  # it fires once auto-close is turned on (settings change)
            due = (start.started_at + inactivity_period(document.auto_close)).timestamp()
            hints[start.account_id] = min(due, hints.get(start.account_id, due))
        # The countdowns are stored before their hints move: see due_index.
        lowered = await self._index.lower(hints)
        if lowered is not None:
            await self._index.wake(lowered)
        return []


def build(resources: Resources) -> Wiring:
    """The timers handler, the fire loop and the retention sweep, publishing through the
    loop's producer; the registry is `WatchedAccounts` (see KIND)."""
    settings, client, clock = resources.settings, resources.redis, resources.clock
    registry = resources.registry
    assert isinstance(registry, WatchedAccounts)
    store = CountdownStore(settings, client)
    index = DueIndex(settings, client)
    controlled = [clock.key] if isinstance(clock, ControlledClock) else []
    wakeups = Wakeups(resources.pubsub, [index.wake_channel, *controlled])
    fire = FireLoop(store, index, registry, clock, wakeups, resources.publish)
    # Its own wake-ups: one event shared with the fire loop would be cleared by either.
    sweep_wakeups = Wakeups(resources.pubsub, controlled)
    sweep = RetentionSweep(settings, client, registry, clock, sweep_wakeups)
    registry.on_auto_close_change = fire.settings_changed

    async def announce() -> None:  # the fire loop starts right after the start steps
        log.info("closer fire loop ready (clock: %s)", settings.clock)

    return Wiring(
        TimersHandler(store, index, registry),
        background=[Background("fire", fire.run, fire.stop),
                    Background("retention", sweep.run, sweep.stop)],
        on_start=[wakeups.start, sweep_wakeups.start, announce],
        on_stop=[wakeups.stop, sweep_wakeups.stop])


KIND = Kind(name=TimersHandler.worker, topics=TimersHandler.topics, build=build,
            known_accounts_only=False,  # a countdown of an unknown account fires nothing
            registry=WatchedAccounts)
