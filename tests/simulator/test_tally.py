"""The figures of a policy run, counted from the events it published (X7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.simulator.table import agent_rows, duration, render, rows
from harness.simulator.tally import Tally, gini, percentile
from schemas.events import Customer, TicketAssigned, TicketCreated, TicketMessage, TicketStatus

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def created(ticket: str, s: float, channel: str = "email") -> TicketCreated:
    return TicketCreated(event_id=f"c-{ticket}", account_id="a", ticket_id=ticket, number=1,
                         channel=channel, customer=Customer(), subject=None,  # type: ignore[arg-type]
                         created_at=at(s), customer_ticket_count=1)


def assigned(ticket: str, s: float, agent: str | None, previous: str | None = None,
             method: str = "round_robin") -> TicketAssigned:
    return TicketAssigned(event_id=f"a-{ticket}-{s}", account_id="a", ticket_id=ticket,
                          team_id=None, agent_id=agent, previous_team_id=None,
                          previous_agent_id=previous, method=method, actor_id=None,  # type: ignore[arg-type]
                          rule_id=None, at=at(s))


def status(ticket: str, s: float, new: str, old: str, reason: str = "agent") -> TicketStatus:
    return TicketStatus(event_id=f"s-{ticket}-{s}", account_id="a", ticket_id=ticket,
                        status=new, previous_status=old, reason=reason, at=at(s))  # type: ignore[arg-type]


def reply(ticket: str, s: float) -> TicketMessage:
    return TicketMessage(event_id=f"m-{ticket}-{s}", account_id="a", ticket_id=ticket,
                         message_id=f"m{s}", direction="outbound", author_kind="agent",
                         author_id="x", text="ok", at=at(s))


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None
    assert percentile([3, 1, 2], 50) == 2


def test_gini_is_zero_when_equal_and_grows_with_inequality() -> None:
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini([1, 2, 3, 4]) < gini([0, 1, 3, 6])


def run_tally() -> Tally:
    tally = Tally(["a1", "a2"], {"a1": {"email": 1}}, day_s=3600, start=T0.timestamp())
    tally.presence("a1", True)
    tally.presence("a2", True)
    tally.advance(0)
    events = [
        (10, created("t1", 10)), (10, assigned("t1", 10, "a1")),
        (20, created("t2", 20)),  # waits: nobody takes it yet
        (30, created("t3", 30)), (30, assigned("t3", 30, "a1")),  # a1 above capacity 1
        (100, reply("t1", 100)),
        (200, assigned("t2", 200, "a2", method="backlog")),
        (300, assigned("t3", 300, "a2", previous="a1", method="manual")),
        (400, status("t1", 400, "closed", "open")),
        (500, status("t3", 500, "closed", "open", reason="inactivity")),
        (600, created("t4", 600)),
    ]
    last = None
    for t, event in events:
        if t != last:  # as the engine does: once per instant, before its events
            tally.advance(t)
            last = t
        tally.observe(t, event)
    tally.advance(3600)
    return tally


def test_the_tally_counts_waits_reassignments_closes_and_capacity() -> None:
    figures, series = run_tally().figures("p", end=3600, sla_s=120)
    assert figures.tickets == 4 and figures.assigned == 3 and figures.never_assigned == 1
    assert figures.first_assignment_p50 == 0 and figures.first_assignment_p99 == 180
    assert figures.longest_wait == 3000  # t4, never assigned, counted to the end
    assert figures.over_sla == 2  # t2 (180 s) and t4
    assert figures.peak_waiting == 1 and figures.waiting_at_end == 1
    assert figures.reassignments == 1
    assert figures.assignments == {"a1": 2, "a2": 2}
    assert figures.auto_closes == 1 and figures.closed_by_agents == 1
    assert figures.over_capacity == 1  # t3's round robin to a1 at capacity 1
    assert figures.first_reply_p50 == 90
    assert len(series.waiting) == 61  # one a minute, 0 to 3600 s
    assert series.waiting[:5] == [0, 1, 1, 1, 0] and series.waiting[10:12] == [0, 1]
    assert series.open_per_agent["a1"][1] == 2 and series.open_per_agent["a2"][-1] == 1
    assert figures.spread_peak == 2


def test_the_end_state_lists_statuses_and_open_per_agent() -> None:
    state = run_tally().state()
    assert state == {"open": 2, "snoozed": 0, "closed": 2, "unassigned": 1, "open:a2": 1}


def test_a_ticket_assigned_at_once_never_counts_as_waiting() -> None:
    tally = Tally(["a1"], {}, day_s=60, start=T0.timestamp())
    tally.advance(5)
    tally.observe(5, created("t1", 5))
    tally.observe(5, assigned("t1", 5, "a1"))
    tally.advance(60)
    assert tally.figures("p", 60, 300)[0].peak_waiting == 0


def test_durations_and_the_printed_table() -> None:
    assert [duration(v) for v in (None, 0, 59.6, 185, 7620, 97200)] == [
        "-", "0s", "1m00s", "3m05s", "2h07m", "1d03h"]
    figures = [run_tally().figures(name, 3600, 120)[0] for name in ("one", "two")]
    text = render([f.policy for f in figures], rows(figures))
    lines = text.splitlines()
    assert lines[0].split() == ["one", "two"]
    assert any(line.startswith("first assignment p99") and line.split()[-2:] == ["3m00s"] * 2
               for line in lines)
    assert "over SLA (first assignment > 2m00s)" in text
    assert agent_rows(figures) == [("a1", ["2", "2"]), ("a2", ["2", "2"])]
