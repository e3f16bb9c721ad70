"""The account reader's death while a replica serves (A4): the replica's main task is
cancelled and the reason logged, so the replica stops instead of serving settings that no
longer change. The reader's I/O is replaced here; the damaged-log case runs end to end in
test_accounts_e2e.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry


class ReaderDied(Exception):
    pass


def test_a_reader_that_dies_while_serving_cancels_the_replica(
        caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        registry = AccountRegistry(Settings())
        die = asyncio.Event()

        async def tail() -> None:
            registry._caught_up.set()
            await die.wait()
            raise ReaderDied("CorruptRecordException")

        registry._tail = tail  # type: ignore[method-assign]

        async def main() -> None:
            await registry.start()
            die.set()
            await asyncio.Event().wait()  # serves until cancelled

        task = asyncio.create_task(main())
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)

    with caplog.at_level(logging.CRITICAL, logger="workers.state.accounts"):
        asyncio.run(go())
    [record] = [r for r in caplog.records if "reader stopped" in r.getMessage()]
    assert "CorruptRecordException" in record.getMessage()


def test_a_reader_that_dies_at_start_raises_its_reason() -> None:
    async def go() -> None:
        registry = AccountRegistry(Settings())

        async def tail() -> None:
            raise ReaderDied("CorruptRecordException")

        registry._tail = tail  # type: ignore[method-assign]
        await registry.start()

    with pytest.raises(ReaderDied):
        asyncio.run(go())


def test_a_stopped_registry_does_not_cancel_its_owner() -> None:
    async def go() -> bool:
        registry = AccountRegistry(Settings())

        async def tail() -> None:
            registry._caught_up.set()
            await asyncio.Event().wait()

        registry._tail = tail  # type: ignore[method-assign]
        await registry.start()
        await registry.stop()
        await asyncio.sleep(0)  # let the done callback run
        return asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    assert asyncio.run(go())
