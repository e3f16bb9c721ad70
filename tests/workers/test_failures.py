"""The one backoff of every retry loop: short first waits, doubling, capped, reset."""

from __future__ import annotations

import pytest

from workers.runtime import failures
from workers.runtime.failures import Backoff


async def test_backoff_doubles_to_its_cap_and_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(failures.asyncio, "sleep", sleep)
    backoff = Backoff()
    for _ in range(8):
        await backoff.pause()
    assert waited == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    backoff.reset()
    await backoff.pause()
    assert waited[-1] == 0.05
