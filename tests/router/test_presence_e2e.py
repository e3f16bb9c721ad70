"""Presence after Redis lost its state (issue 12, finding 10): heartbeats say the agent is
online, so they bring back an agent whose record is gone, never one who went offline later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.processes import WorkerProcess
from tests.conftest import MONDAY_OPEN
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, new_ticket, presence
from workers.router.store import RouterStore
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect

pytestmark = pytest.mark.e2e


def test_heartbeats_bring_agents_back_after_redis_lost_its_state(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    for agent in ("ag-2", "ag-3"):  # shipping's rotation
        presence(pipeline, agent, at=MONDAY_OPEN, applied_by=router)
    # Redis loses acme's state (the Redis of the tests is shared: only this test's keys).
    lost = list(pipeline.redis.scan_iter(match=f"{pipeline.base()}:*", count=1000))
    assert pipeline.keys.online("acme") in lost
    pipeline.redis.delete(*lost)
    waiting = new_ticket(pipeline, from_number="+15550009000")
    assert assignments(pipeline, waiting.ticket_id)[0].agent_id is None  # nobody is online
    beat = MONDAY_OPEN + timedelta(seconds=30)
    presence(pipeline, "ag-3", "heartbeat", at=beat, applied_by=router)
    drained = assignments(pipeline, waiting.ticket_id, 2)[1]  # ag-3 came back (R4)
    assert (drained.agent_id, drained.method) == ("ag-3", "backlog")
    presence(pipeline, "ag-2", "heartbeat", at=beat, applied_by=router)
    # ag-2 logs out; a heartbeat from before the logout, delivered late, does not bring it
    # back, and neither does a replay of the logout's own second.
    presence(pipeline, "ag-2", "logout", at=beat + timedelta(seconds=10), applied_by=router)
    presence(pipeline, "ag-2", "heartbeat", at=beat + timedelta(seconds=5), applied_by=router)
    presence(pipeline, "ag-2", "heartbeat", at=beat + timedelta(seconds=10), applied_by=router)
    fresh = [new_ticket(pipeline, from_number=f"+155500090{n}1") for n in range(2)]
    assert [assignments(pipeline, t.ticket_id)[0].agent_id for t in fresh] == ["ag-3", "ag-3"]
    # A heartbeat after the logout is a sign of life again: ag-2 takes its turn.
    presence(pipeline, "ag-2", "heartbeat", at=beat + timedelta(seconds=20), applied_by=router)
    turns = [new_ticket(pipeline, from_number=f"+155500090{n}2") for n in range(2)]
    assert sorted(assignments(pipeline, t.ticket_id)[0].agent_id for t in turns) == [
        "ag-2", "ag-3"]


async def test_presence_records_in_any_order_and_repeated_end_in_the_newest_status(
        settings: Settings) -> None:
    client = connect(settings)
    store = RouterStore(settings, client)
    keys = Keys.of(settings)
    key = keys.online("acme")

    async def apply(status: str, second: int) -> bool:
        return await store.set_presence("acme", "ag-1", status,
                                        MONDAY_OPEN + timedelta(seconds=second))

    async def seen() -> float | None:
        return await client.zscore(key, "ag-1")

    try:
        assert await apply("heartbeat", 0) and await seen() == MONDAY_OPEN.timestamp()
        assert await apply("heartbeat", -5) and await seen() == MONDAY_OPEN.timestamp()
        for _ in range(2):  # a redelivered batch applies the same records again
            assert await apply("online", 10) and await apply("heartbeat", 20)
            assert await apply("logout", 30)
            assert not await apply("heartbeat", 25)  # sent before the logout, came late
            assert not await apply("heartbeat", 30)
            assert await seen() is None
        assert await apply("heartbeat", 31)  # a sign of life after the logout
        assert await seen() == MONDAY_OPEN.timestamp() + 31
        assert await apply("offline", 40) and await apply("online", 35)  # explicit: log order
        assert await seen() == MONDAY_OPEN.timestamp() + 35
        assert await apply("heartbeat", 36)  # the online cleared the offline time
        await client.delete(key, keys.offline("acme"))  # Redis lost its state
        assert await apply("heartbeat", 37) and await seen() == MONDAY_OPEN.timestamp() + 37
    finally:
        await client.aclose()
