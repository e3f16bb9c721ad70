"""The unassigned view's queue order and the agents view's rows, as pure functions."""

from __future__ import annotations

from schemas.config import AgentConfig, Capacity
from workers.router.agents_view import ChannelLoad, agent_row
from workers.router.views import queue_first


def test_waiting_tickets_come_first_in_queue_order_then_the_other_unassigned() -> None:
    ids = [("t-1", 1.0), ("t-2", 2.0), ("t-3", 3.0), ("t-4", 4.0)]
    # t-3 urgent, t-1 normal wait; t-2 and t-4 are unassigned without waiting (no rotation)
    assert queue_first(["t-3", "t-1", "t-gone"], ids) == [
        ("t-3", 3.0), ("t-1", 1.0), ("t-2", 2.0), ("t-4", 4.0)]
    assert queue_first([], ids) == ids


def test_agent_row_counts_against_capacity_and_presence_cutoff() -> None:
    agent = AgentConfig(id="ag-1", name="Kris", email="kris@acme.example", role="support",
                        capacity=Capacity(sms=5, webchat=0), skills={"fr": 3})
    row = agent_row(agent, seen=100.0, cutoff=50.0, load={"sms": "2"},
                    last_auto_at="2026-11-23T10:00:00Z", due=None)
    assert row.status == "online" and row.skills == {"fr": 3}
    assert row.load == [ChannelLoad(channel="sms", open=2, capacity=5),
                        ChannelLoad(channel="email", open=0, capacity=None),
                        ChannelLoad(channel="webchat", open=0, capacity=0)]
    timed_out = agent_row(agent, seen=10.0, cutoff=50.0, load={}, last_auto_at=None, due=420.0)
    assert timed_out.status == "offline" and timed_out.last_auto_at is None
    assert timed_out.reassign_due == "1970-01-01T00:07:00Z"
    assert agent_row(agent, seen=None, cutoff=float("-inf"), load={}, last_auto_at=None,
                     due=None).status == "offline"
