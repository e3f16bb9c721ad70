"""Which accounts may have a due countdown: a sharded hint, so firing never scans accounts.

`tf:{closer-due:<n>}` (n < SHARDS) are zsets of account ids, score = the earliest instant
one of the account's countdowns or unacknowledged closes may be due. The shards sit in
different Redis Cluster slots, so no key takes every write. The index is only a hint:
an entry too early costs one look at the account (which then raises it); an entry too
late would fire late, so every writer keeps it at or before the truth:
- a new countdown lowers it (`ZADD LT`) after the countdown is stored;
- a fire pass sets it from the account's zsets, then reads them again and lowers it if a
  countdown arrived in between (its writer's `ZADD LT` may have come before our set).
"""

from __future__ import annotations

import zlib
from typing import Any

from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import OrderedCalls

SHARDS = 16


class DueIndex:
    """The sharded hint of accounts with due work."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._client = client
        keys = Keys.of(settings)
        self._shards = [keys.due_shard(n) for n in range(SHARDS)]
        self.wake_channel = keys.closer_wake()

    def shard(self, account_id: str) -> str:
        """The shard of an account; crc32 so every process agrees."""
        return self._shards[zlib.crc32(account_id.encode()) % SHARDS]

    async def lower(self, hints: dict[str, float]) -> float | None:
        """Move accounts' hints earlier (never later); returns the earliest hint that
        changed, so the caller can wake sleeping fire loops, or None."""
        if not hints:
            return None
        calls = OrderedCalls(self._client)
        for account_id, due in hints.items():
            calls.command("zadd", self.shard(account_id), {account_id: due}, lt=True, ch=True)
        changed = await calls.execute()
        lowered = [due for due, ch in zip(hints.values(), changed, strict=True) if ch]
        return min(lowered) if lowered else None

    async def set(self, account_id: str, due: float | None) -> None:
        """Set an account's hint outright (None: nothing to do for it)."""
        if due is None:
            await self._client.zrem(self.shard(account_id), account_id)
        else:
            await self._client.zadd(self.shard(account_id), {account_id: due})

    async def due_accounts(self, now: float, limit: int) -> list[str]:
        """Accounts whose hint is at or before `now`, from every shard."""
        calls = OrderedCalls(self._client)
        for shard in self._shards:
            calls.command("zrangebyscore", shard, "-inf", now, start=0, num=limit)
        return [account for found in await calls.execute() for account in found]

    async def next_due(self) -> float | None:
        """The earliest hint of any account, or None when no account has work."""
        calls = OrderedCalls(self._client)
        for shard in self._shards:
            calls.command("zrange", shard, 0, 0, withscores=True)
        firsts = [found[0][1] for found in await calls.execute() if found]
        return min(firsts) if firsts else None

    async def wake(self, due: float) -> None:
        """Tell every fire loop that something may be due at `due`."""
        await self._client.publish(self.wake_channel, repr(due))
