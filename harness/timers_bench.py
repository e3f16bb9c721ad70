"""`ticketflow bench-timers`: what pending countdowns cost in Redis, and how fast they fire.

Memory is the `used_memory` delta of a fresh redis-server after writing the countdowns
exactly as `schedule.lua` stores them (hash entry + zset entry per ticket, plus one due-index
entry per account); ticket hashes, which exist anyway, are not counted. Fires per second go
through the real fire loop code: read, decide, claim-and-close script, publish both events
to the embedded broker, acknowledge.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import msgspec
import redis

from harness.embedded import EmbeddedStack, RedisServer
from schemas.codec import encode
from schemas.config import AccountDocument, AutoClose
from workers.closer.countdowns import CountdownStore
from workers.closer.deadline import Countdown
from workers.closer.due_index import DueIndex
from workers.closer.firing import FireLoop
from workers.runtime.ids import ticket_id_for
from workers.runtime.kafka import make_producer
from workers.runtime.records import Outgoing
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.keys import Keys
from workers.state.store import connect

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CHUNK = 10_000


class _FixedClock:
    def __init__(self, now: datetime) -> None:
        self.instant = now

    async def now(self) -> datetime:
        return self.instant


class _Accounts:
    """Every account with auto-close on, 2 days (stands in for the live registry)."""

    def get(self, account_id: str) -> AccountDocument:
        return AccountDocument(account_id=account_id, version=1,
                               auto_close=AutoClose(enabled=True, days=2))


def _write_countdowns(client: redis.Redis, settings: Settings, count: int, accounts: int,
                      with_tickets: bool, started: datetime) -> None:
    keys = Keys.of(settings)
    for first in range(0, count, CHUNK):
        pipe = client.pipeline(transaction=False)
        for n in range(first, min(first + CHUNK, count)):
            account = f"acct{n % accounts}"
            ticket = ticket_id_for(account, "sms", f"SM{n}")
            at = started + timedelta(seconds=n % 86400)
            pipe.hset(keys.countdowns(account), ticket, Countdown(1, at).encode())
            pipe.zadd(keys.timers(account), {ticket: at.timestamp()})
            if with_tickets:
                pipe.hset(keys.ticket(account, ticket),
                          mapping={"version": 1, "status": "open", "number": n + 1})
        pipe.execute()
    index = DueIndex(settings, None)
    pipe = client.pipeline(transaction=False)
    for a in range(accounts):
        account = f"acct{a}"
        pipe.zadd(index.shard(account), {account: (started + timedelta(days=2)).timestamp()})
    pipe.execute()


def measure_memory(settings: Settings, timers: int, accounts: int) -> int:
    """Bytes of Redis memory that `timers` pending countdowns take."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.flushall()
        before = int(client.info("memory")["used_memory"])
        _write_countdowns(client, settings, timers, accounts, False, T0)
        after = int(client.info("memory")["used_memory"])
        client.flushall()
        return after - before
    finally:
        client.close()


async def _fire_all(settings: Settings, now: datetime) -> int:
    client: Any = connect(settings)
    producer = make_producer(settings)

    async def publish(outgoing: list[Outgoing]) -> None:  # the embedded broker stays up
        await asyncio.gather(*[await producer.send(settings.topic(o.topic), encode(o.value),
                                                   key=o.key.encode()) for o in outgoing])

    await producer.start()
    try:
        loop = FireLoop(CountdownStore(settings, client), DueIndex(settings, client),
                        _Accounts(), _FixedClock(now), Wakeups(client, []),  # type: ignore[arg-type]
                        publish)
        while await loop.fire_due(now):
            pass
        return loop.closed
    finally:
        await producer.stop()
        await client.aclose()


def measure_fires(settings: Settings, fires: int, accounts: int) -> tuple[int, float]:
    """(tickets closed, seconds) for `fires` due countdowns."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.flushall()
        _write_countdowns(client, settings, fires, accounts, True, T0)
    finally:
        client.close()
    started = time.monotonic()
    closed = asyncio.run(_fire_all(settings, T0 + timedelta(days=3)))
    return closed, time.monotonic() - started


def bench_timers(timers: int, fires: int, accounts: int) -> dict[str, float]:
    """Print and return the memory per pending timer and the fire rate.

    Always on a redis-server of its own (it is flushed between the two measurements),
    never on the one TICKETFLOW_REDIS names.
    """
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as tmp, \
            EmbeddedStack() as stack_settings:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            return _bench(msgspec.structs.replace(stack_settings, redis_url=server.url),
                          timers, fires, accounts)
        finally:
            server.stop()


def _bench(settings: Settings, timers: int, fires: int, accounts: int) -> dict[str, float]:
    used = measure_memory(settings, timers, accounts)
    click.echo(f"{timers} pending timers over {accounts} accounts: "
               f"{used / 2**20:.1f} MiB of Redis memory ({used / timers:.0f} bytes each)")
    closed, seconds = measure_fires(settings, fires, accounts)
    click.echo(f"fired {closed} due timers (claim + close + 2 events published) in "
               f"{seconds:.2f}s: {closed / seconds:.0f} fires/s")
    return {"bytes_per_timer": used / timers, "fires_per_second": closed / seconds}
