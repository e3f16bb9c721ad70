"""The queue length gauge (R12, X4): set per account off the routing path, accounts that
left dropped, a failed read never stopping the replica, and the router's wiring reading
the queue the routing scripts fill (against a throwaway redis-server)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from schemas.config import load_account_yaml
from tests.conftest import MONDAY_OPEN
from workers.router.agent import build
from workers.router.decide import plan_new_ticket
from workers.router.queue_metrics import (
    CONCURRENCY,
    record_queue_lengths,
    watch_queue_lengths,
)
from workers.router.rules import TicketFacts
from workers.router.store import RouterStore
from workers.runtime.clock import SystemClock
from workers.runtime.metrics import REGISTRY
from workers.runtime.replica import Resources
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry
from workers.state.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
_accounts = itertools.count()


def length(account_id: str) -> float | None:
    return REGISTRY.get_sample_value("ticketflow_queue_length", {"account": account_id})


def fresh(n: int) -> list[str]:
    """Account ids no other test has set the gauge for."""
    return [f"qm{next(_accounts)}" for _ in range(n)]


async def test_sets_each_account_and_drops_those_gone() -> None:
    a, b, c = fresh(3)
    sizes = {a: 3, b: 0, c: 7}

    async def size(account_id: str) -> int:
        return sizes[account_id]

    shown = await record_queue_lengths(size, [a, b, c], set())
    assert (length(a), length(b), length(c)) == (3, 0, 7)
    sizes[a] = 1
    assert await record_queue_lengths(size, [a, b], shown) == {a, b}
    assert (length(a), length(b), length(c)) == (1, 0, None)


async def test_reads_many_accounts_a_bounded_number_at_a_time() -> None:
    accounts = fresh(CONCURRENCY * 2 + 5)
    running = peak = 0

    async def size(account_id: str) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return len(account_id)

    await record_queue_lengths(size, accounts, set())
    assert 1 < peak <= CONCURRENCY
    assert all(length(a) == len(a) for a in accounts)


class Accounts:
    """What the loop reads of the account registry."""

    def __init__(self, *account_ids: str) -> None:
        self.ids = account_ids

    def all(self) -> list[object]:
        return [msgspec.structs.replace(ACME, account_id=a) for a in self.ids]


ACME = load_account_yaml((ROOT / "deploy" / "accounts" / "acme.yaml").read_text())


async def test_a_failed_read_keeps_the_last_value_and_the_loop_goes_on() -> None:
    [account] = fresh(1)
    answers: list[int | Exception] = [4, ConnectionError("redis away"),
                                      ConnectionError("redis away"), 2]
    during_outage: list[float | None] = []
    after_recovery = asyncio.Event()  # a read after the last answer: that one was set

    async def size(account_id: str) -> int:
        if not answers:
            after_recovery.set()
        answer = answers.pop(0) if answers else 2
        if isinstance(answer, Exception):
            during_outage.append(length(account))
            raise answer
        return answer

    task = asyncio.create_task(watch_queue_lengths(
        size, Accounts(account), interval_s=0.001))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(after_recovery.wait(), 5)
        assert not task.done() and length(account) == 2
        assert during_outage == [4, 4]  # the value before the outage stays
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_the_router_reports_the_tickets_its_scripts_queued(redis_url: str) -> None:
    """Tickets routed outside business hours wait (R4, R12); the router's background loop
    reports them, reading the queue through the store the scripts write."""
    [account_id] = fresh(1)
    settings = msgspec.structs.replace(Settings.from_env({}), redis_prefix=account_id)
    account = msgspec.structs.replace(ACME, account_id=account_id)
    registry = AccountRegistry(settings)
    assert registry.apply(account_id.encode(), msgspec.json.encode(account)) is None
    client = aioredis.from_url(redis_url, decode_responses=True)
    keys = Keys.of(settings)

    async def publish(_: object) -> None:
        raise AssertionError("nothing to publish")

    try:
        store = RouterStore(settings, client)
        steps = []
        for number in (1, 2, 3):
            await client.hset(keys.ticket(account_id, f"t-{number}"), mapping={
                "ticket_id": f"t-{number}", "number": number, "status": "open",
                "created_at": "2026-11-23T07:00:00Z", "version": 1, "channel": "sms"})
            plan = plan_new_ticket(account, TicketFacts(channel="sms"), open_now=False)
            assert plan.mode == "backlog"
            steps.append((account, store.route_step(f"t-{number}", plan, f"ev-{number}")))
        await store.route_and_read(steps, MONDAY_OPEN)
        wiring = build(Resources(settings=settings, redis=client, pubsub=client,
                                 registry=registry, clock=SystemClock(), publish=publish,
                                 secrets={}))
        [job] = [job for job in wiring.background if job.name == "queue_length"]
        task = asyncio.create_task(job.run())  # type: ignore[arg-type]
        try:
            for _ in range(500):  # the first read comes at once
                if length(account_id) is not None:
                    break
                await asyncio.sleep(0.01)
            assert length(account_id) == 3
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await client.aclose()
