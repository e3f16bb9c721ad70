"""The closer worker: `timers` records become countdowns in Redis, and a fire loop closes
tickets whose countdown ran out (C1-C6)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from schemas.codec import encode
from schemas.internal import CountdownCancel, CountdownStart, CustomerTyping
from workers.closer.countdowns import CountdownStore
from workers.closer.deadline import inactivity_period
from workers.closer.due_index import DueIndex
from workers.closer.firing import FireLoop
from workers.closer.retention import RetentionSweep
from workers.closer.watched_accounts import WatchedAccounts
from workers.runtime.clock import ControlledClock, make_clock
from workers.runtime.consumer import ConsumerLoop
from workers.runtime.failures import Backoff, is_transient
from workers.runtime.kafka import make_producer
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.store import connect, connect_pubsub

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


class EventPublisher:
    """Publishes the closer's own events, retrying while the broker is unavailable."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.producer = make_producer(settings)

    async def __call__(self, outgoing: list[Outgoing]) -> None:
        backoff = Backoff()
        while True:
            try:
                futures = [await self.producer.send(self._settings.topic(o.topic),
                                                    encode(o.value), key=o.key.encode())
                           for o in outgoing]
                await asyncio.gather(*futures)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("closer publish failed: %s; retrying in %.2fs", exc,
                            backoff.delay)
                await backoff.pause()


async def run(settings: Settings) -> None:
    """Run one closer replica until SIGTERM."""
    client: Any = connect(settings)
    clock = make_clock(settings.clock, client, settings.redis_prefix)
    store = CountdownStore(settings, client)
    index = DueIndex(settings, client)
    channels = [index.wake_channel]
    if isinstance(clock, ControlledClock):
        channels.append(clock.key)
    listener: Any = connect_pubsub(settings)
    wakeups = Wakeups(listener, channels)
    registry = WatchedAccounts(settings)
    publisher = EventPublisher(settings)
    fire = FireLoop(store, index, registry, clock, wakeups, publisher)
    # Its own wake-ups: one event shared with the fire loop would be cleared by either.
    sweep_wakeups = Wakeups(listener, [clock.key] if isinstance(clock, ControlledClock) else [])
    sweep = RetentionSweep(settings, client, registry, clock, sweep_wakeups)
    registry.on_auto_close_change = fire.settings_changed
    consumer = ConsumerLoop(settings, TimersHandler(store, index, registry))

    def stop() -> None:
        consumer.stop()
        fire.stop()
        sweep.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await registry.start()
        await publisher.producer.start()
        await wakeups.start()
        await sweep_wakeups.start()
        log.info("closer fire loop ready (clock: %s)", settings.clock)
        tasks = [asyncio.create_task(fire.run(), name="closer-fire"),
                 asyncio.create_task(consumer.run(), name="closer-consume"),
                 asyncio.create_task(sweep.run(), name="closer-retention")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            stop()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await wakeups.stop()
        await sweep_wakeups.stop()
        await publisher.producer.stop()
        await registry.stop()
        await client.aclose()
        await listener.aclose()
