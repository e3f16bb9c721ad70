"""The live view of `make run`: a snapshot drawn as lines (pure), the event tally's rates
and last assignments, and the frame that redraws the screen in place."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from harness.devrun import shows_live_view
from harness.live_feed import EventTally, RollingRate
from harness.live_screen import CLEAR_BELOW, HOME, frame
from harness.live_view import (
    AccountView,
    AssignmentLine,
    LiveSnapshot,
    Rates,
    load_text,
    presence_of,
    render,
    waiting_by_channel,
    waiting_by_priority,
)
from schemas.events import Customer, TicketAssigned, TicketCreated, TicketStatus
from workers.router.agents_view import AgentRow, ChannelLoad
from workers.router.views import TicketRow

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def agent(agent_id: str, status: str = "online", last_seen: str | None = "2026-11-23T10:00:00Z",
          load: tuple[int, int, int] = (0, 0, 0),
          capacity: tuple[int | None, int | None, int | None] = (None, None, None),
          due: str | None = None) -> AgentRow:
    return AgentRow(agent_id=agent_id, name=agent_id.title(), role="support",
                    status=status, last_seen=last_seen,  # type: ignore[arg-type]
                    load=[ChannelLoad(channel=c, open=n, capacity=cap)
                          for c, n, cap in zip(("sms", "email", "webchat"), load, capacity,
                                               strict=True)],
                    skills={"fr": 3}, last_auto_at=None, reassign_due=due)


def waiting(number: int, channel: str = "sms", priority: str | None = None) -> TicketRow:
    return TicketRow(ticket_id=f"t-{number}", number=number, created_at="2026-11-23T10:00:00Z",
                     channel=channel, status="open", customer="+15550000001",
                     customer_ticket_count=1, team_id=None, agent_id=None, priority=priority)


def snapshot(assignments: int = 0, warnings: list[str] | None = None) -> LiveSnapshot:
    return LiveSnapshot(
        broker="127.0.0.1:9092", redis="redis://127.0.0.1:6379/0", uptime_s=3725.0,
        accounts=[
            AccountView(account_id="acme-balanced", assignment_method="balanced", agents=[
                agent("ag-1", load=(3, 1, 0), capacity=(5, None, 3)),
                agent("ag-2", status="offline", last_seen=None, due="2026-11-23T10:05:00Z"),
                agent("ag-3", status="offline")],
                waiting=[waiting(7, priority="urgent"), waiting(3, "webchat", "high"),
                         waiting(2), waiting(9, "email", "low")]),
            AccountView(account_id="acme", assignment_method="round_robin",
                        agents=[agent("ag-1")], waiting=[])],
        rates=Rates(window_s=10, created_per_s=1.5, routed_per_s=1.2, closed_per_s=0.9,
                    created=120, routed=110, from_queue=40, closed=90),
        assignments=[AssignmentLine(at=f"10:00:0{i % 10}", account_id="acme-balanced",
                                    ticket_id=f"t-{i}", team_id="billing", agent_id="ag-1",
                                    method="backlog", reason="capacity_freed",
                                    priority="urgent")
                     for i in range(assignments)],
        warnings=warnings or [])


def test_presence_is_online_away_when_silent_past_the_timeout_offline_when_signed_out() -> None:
    assert presence_of(agent("ag-1")) == "online"
    assert presence_of(agent("ag-1", status="offline")) == "away"
    assert presence_of(agent("ag-1", status="offline", last_seen=None)) == "offline"


def test_load_reads_open_against_capacity() -> None:
    assert load_text(ChannelLoad(channel="sms", open=3, capacity=5)) == "sms 3/5"
    assert load_text(ChannelLoad(channel="email", open=1, capacity=None)) == "email 1/∞"
    assert load_text(ChannelLoad(channel="email", open=1, capacity=None), "-") == "email 1/-"


def test_waiting_counts_by_priority_in_queue_order_and_by_channel() -> None:
    rows = [waiting(1, priority="low"), waiting(2), waiting(3, "email", "urgent"),
            waiting(4, priority="normal")]
    assert list(waiting_by_priority(rows).items()) == [
        ("urgent", 1), ("high", 0), ("normal", 2), ("low", 1)]
    assert waiting_by_channel(rows) == {"sms": 3, "email": 1, "webchat": 0}


def test_render_shows_agents_queue_rates_and_assignments() -> None:
    text = "\n".join(render(snapshot(assignments=3)))
    assert "up 01:02:05" in text
    assert "tickets in    1.5/s   routed    1.2/s   closed    0.9/s   (last 10 s)" in text
    assert "110 routed (40 from the queue)" in text
    line = next(x for x in text.splitlines() if x.startswith("acme-balanced  ag-1"))
    assert "online" in line and "sms 3/5" in line and "email 1/∞" in line
    assert "webchat 0/3" in line and "fr:3" in line
    ag2 = next(x for x in text.splitlines() if x.startswith("acme-balanced  ag-2"))
    assert " offline " in ag2 and "waiting tickets requeued at 10:05:00" in ag2
    assert " away " in next(x for x in text.splitlines() if x.startswith("acme-balanced  ag-3"))
    queue = next(x for x in text.splitlines() if x.startswith("acme-balanced  balanced"))
    assert queue.split()[2:7] == ["1", "1", "1", "1", "4"]  # urgent high normal low total
    assert "sms 2  email 1  webchat 1" in queue and "#7 sms urgent  #3 webchat high" in queue
    assert "t-2" in text and "backlog" in text and "capacity_freed" in text


def test_render_fits_the_screen_and_gives_the_rest_to_the_last_assignments() -> None:
    lines = render(snapshot(assignments=50), width=80, height=30)
    assert len(lines) == 30 and max(len(x) for x in lines) <= 80
    shown = [x for x in lines if x.startswith("10:00:0")]
    assert len(shown) == 30 - len([x for x in lines if not x.startswith("10:00:0")])
    assert lines[-1].startswith("10:00:0")
    taller = render(snapshot(assignments=50), width=200, height=60)
    assert len([x for x in taller if x.startswith("10:00:0")]) == len(shown) + 30


def test_render_keeps_a_few_assignments_and_warnings_below_them() -> None:
    lines = render(snapshot(assignments=10, warnings=["a", "b", "c"]), height=200)
    assert lines[-2:] == ["worker: b", "worker: c"]
    assert len(render(snapshot(assignments=10), height=10)) == 10
    assert render(snapshot(), height=200)[-1].startswith("time ")  # none yet


def test_rolling_rate_counts_the_window_or_the_time_since_the_start() -> None:
    rate = RollingRate(10.0, started=100.0)
    for t in (100.5, 101.0, 101.5, 102.0):
        rate.add(t)
    assert rate.per_s(102.0) == 2.0  # 4 events in the 2 s since the start
    assert rate.per_s(111.2) == 0.2  # window 101.2-111.2 holds one
    assert rate.per_s(120.0) == 0.0
    assert RollingRate(10.0, started=5.0).per_s(5.0) == 0.0


def test_tally_counts_created_routed_closed_and_keeps_the_newest_assignments_first() -> None:
    tally = EventTally(started=0.0, keep=2)
    created = TicketCreated(event_id="e1", account_id="acme", ticket_id="t-1", number=1,
                            channel="sms", customer=Customer(phone="+1"), subject=None,
                            created_at=AT, customer_ticket_count=1)
    tally.add(created, 1.0, AT)
    for i, (agent_id, method) in enumerate([("ag-1", "round_robin"), (None, "backlog"),
                                            ("ag-2", "backlog")]):
        tally.add(TicketAssigned(event_id=f"a{i}", account_id="acme", ticket_id=f"t-{i}",
                                 team_id=None, agent_id=agent_id, previous_team_id=None,
                                 previous_agent_id=None, method=method, actor_id=None,
                                 rule_id=None, at=AT,
                                 reason="agent_offline" if agent_id is None else None),
                  2.0, AT)
    tally.add(TicketStatus(event_id="s1", account_id="acme", ticket_id="t-1", status="closed",
                           previous_status="open", reason="agent", at=AT), 3.0, AT)
    tally.add(TicketStatus(event_id="s2", account_id="acme", ticket_id="t-1", status="open",
                           previous_status="closed", reason="reopened", at=AT), 3.0, AT)
    assert tally.totals == {"created": 1, "routed": 2, "from_queue": 1, "closed": 1}
    assert [(a.ticket_id, a.agent_id) for a in tally.assignments] == [
        ("t-2", "ag-2"), ("t-1", None)]
    assert tally.assignments[1].reason == "agent_offline"
    rates = tally.rates(4.0)
    assert (rates.created_per_s, rates.routed_per_s, rates.closed_per_s) == (0.25, 0.5, 0.25)


def test_a_frame_redraws_from_the_top_left_and_clears_what_was_below() -> None:
    out = frame(["one", "two"])
    assert out.startswith(HOME) and out.endswith(CLEAR_BELOW)
    assert out.count("\n") == 1  # no newline after the last line: a full screen never scrolls


def test_the_live_view_needs_a_terminal_and_plain_asks_for_lines() -> None:
    class Out(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert shows_live_view(False, Out(tty=True))
    assert not shows_live_view(True, Out(tty=True))
    assert not shows_live_view(False, Out(tty=False))
