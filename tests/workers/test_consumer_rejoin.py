"""The consume loop when aiokafka's group coordination dies under it: a CancelledError
that nobody asked for (aiokafka 0.14 cancels its own heartbeat task in a failover) makes
the loop join again with a new consumer, while a real stop still cancels the replica.
The Kafka clients are stand-ins here: the failure cannot be provoked on demand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workers.runtime import consumer as consumer_module
from workers.runtime.consumer import ConsumerLoop
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.settings import Settings


class Handler:
    worker = "probe"
    topics = ("inbound.sms",)

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        return []


class Producer:
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Consumer:
    """Its first getmany fails as aiokafka's does; later ones report the poll."""

    def __init__(self, fail_first: bool, polled: asyncio.Event) -> None:
        self.fail_first = fail_first
        self.polled = polled
        self.stopped = False

    def subscribe(self, topics: list[str], listener: Any) -> None: ...
    async def start(self) -> None: ...
    def assignment(self) -> set[Any]:
        return set()

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        if self.fail_first:
            self.fail_first = False
            doomed = asyncio.get_running_loop().create_future()
            doomed.cancel()
            await doomed  # raises CancelledError, as a future aiokafka cancelled does
        self.polled.set()
        await asyncio.sleep(0.001)
        return {}


def test_a_stray_cancellation_joins_the_group_again(monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> list[Consumer]:
        polled = asyncio.Event()
        made: list[Consumer] = []

        def make(*_: Any, **__: Any) -> Consumer:
            made.append(Consumer(fail_first=not made, polled=polled))
            return made[-1]

        monkeypatch.setattr(consumer_module, "make_group_consumer", make)
        monkeypatch.setattr(consumer_module, "make_producer", lambda *_a, **_k: Producer())
        loop = ConsumerLoop(Settings(), Handler())
        running = asyncio.create_task(loop.run())
        await asyncio.wait_for(polled.wait(), 10)
        loop.stop()
        await asyncio.wait_for(running, 10)  # ends normally: drained, not crashed
        return made

    made = asyncio.run(go())
    assert len(made) == 2 and made[0].stopped and made[1].stopped


def test_stopping_the_replica_by_cancellation_still_cancels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        polled = asyncio.Event()
        monkeypatch.setattr(consumer_module, "make_group_consumer",
                            lambda *_a, **_k: Consumer(fail_first=False, polled=polled))
        monkeypatch.setattr(consumer_module, "make_producer", lambda *_a, **_k: Producer())
        running = asyncio.create_task(ConsumerLoop(Settings(), Handler()).run())
        await asyncio.wait_for(polled.wait(), 10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(go())
