"""The live view of `make run` (X2): one snapshot of the system drawn as lines of text.

Pure: a `LiveSnapshot` (what the agents view, the queue and the events topic said at one
moment) goes in, the lines of one screen come out. Reading Redis and Kafka is
`harness/live_feed.py`; drawing on the terminal is `harness/live_screen.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec

from workers.router.agents_view import AgentRow, ChannelLoad
from workers.router.capacity import CHANNELS, DEFAULT_PRIORITY, PRIORITY_RANK
from workers.router.views import TicketRow

AgentPresence = Literal["online", "away", "offline"]
PRIORITIES = tuple(sorted(PRIORITY_RANK, key=PRIORITY_RANK.__getitem__))
"""urgent, high, normal, low: the order the queue is served in."""
MIN_ASSIGNMENT_ROWS = 3


class AssignmentLine(msgspec.Struct, frozen=True, kw_only=True):
    """One `ticket.assigned` event as the view lists it."""

    at: str
    """Wall-clock time it was read (HH:MM:SS)."""
    account_id: str
    ticket_id: str
    team_id: str | None
    agent_id: str | None
    """None: the ticket went back to the queue (R15)."""
    method: str
    reason: str | None
    priority: str | None


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """One account: its agents (the agents view) and its waiting tickets in queue order."""

    account_id: str
    assignment_method: str
    agents: list[AgentRow]
    waiting: list[TicketRow]


class Rates(msgspec.Struct, frozen=True, kw_only=True):
    """Tickets per second over the last `window_s`, and totals since the start."""

    window_s: float
    created_per_s: float
    routed_per_s: float
    closed_per_s: float
    created: int
    routed: int
    from_queue: int
    closed: int


class LiveSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one screen shows."""

    broker: str
    redis: str
    uptime_s: float
    accounts: list[AccountView]
    rates: Rates
    assignments: list[AssignmentLine]
    """Newest first."""
    warnings: list[str] = []
    """The workers' latest warning lines."""


def presence_of(row: AgentRow) -> AgentPresence:
    """online; away: still signed in but silent past the presence timeout, so routing
    counts them offline (R3); offline: signed out (offline or logout)."""
    if row.status == "online":
        return "online"
    return "away" if row.last_seen is not None else "offline"


def load_text(load: ChannelLoad, unlimited: str = "∞") -> str:
    """`sms 3/5`: open tickets on a channel against its capacity (R11)."""
    capacity = unlimited if load.capacity is None else str(load.capacity)
    return f"{load.channel} {load.open}/{capacity}"


def waiting_by_priority(waiting: Sequence[TicketRow]) -> dict[str, int]:
    """How many tickets wait at each priority, most pressing first (R12)."""
    counts = Counter(row.priority or DEFAULT_PRIORITY for row in waiting)
    return {priority: counts[priority] for priority in PRIORITIES}


def waiting_by_channel(waiting: Sequence[TicketRow]) -> dict[str, int]:
    """How many tickets wait on each channel."""
    counts = Counter(row.channel for row in waiting)
    return {channel: counts[channel] for channel in CHANNELS}


def _time_of(rfc3339: str | None) -> str:
    """`2026-11-23T10:00:01.5Z` -> `10:00:01` (UTC, as Redis holds it)."""
    if not rfc3339:
        return "-"
    return rfc3339.partition("T")[2][:8] or rfc3339


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _agent_lines(accounts: Sequence[AccountView], unlimited: str) -> list[str]:
    lines = [f"{'account':<14} {'agent':<8} {'name':<8} {'status':<8} "
             f"{'open / capacity per channel':<44} {'skills':<18} last automatic (UTC)"]
    for account in accounts:
        for row in account.agents:
            load = "".join(f"{load_text(c, unlimited):<15}" for c in row.load)
            skills = " ".join(f"{name}:{level}" for name, level in row.skills.items()) or "-"
            presence = presence_of(row)
            last = f"{_time_of(row.last_auto_at):<9}"
            if row.reassign_due and presence != "online":  # online: only a timeout ahead
                last += f" waiting tickets requeued at {_time_of(row.reassign_due)}"
            lines.append(f"{account.account_id:<14} {row.agent_id:<8} {row.name:<8} "
                         f"{presence:<8} {load:<44} {skills:<18} {last}")
    return lines


def _queue_lines(accounts: Sequence[AccountView]) -> list[str]:
    header = "".join(f"{p:>8}" for p in PRIORITIES)
    lines = [f"{'account':<14} {'method':<12}{header}{'total':>8}   {'by channel':<28}"
             " next in line"]
    for account in accounts:
        counts = "".join(f"{n:>8}" for n in waiting_by_priority(account.waiting).values())
        channels = "  ".join(f"{c} {n}" for c, n in waiting_by_channel(account.waiting).items())
        head = "  ".join(f"#{t.number} {t.channel} {t.priority or DEFAULT_PRIORITY}"
                         for t in account.waiting[:3]) or "-"
        lines.append(f"{account.account_id:<14} {account.assignment_method:<12}{counts}"
                     f"{len(account.waiting):>8}   {channels:<28} {head}")
    return lines


def _assignment_line(a: AssignmentLine) -> str:
    agent = a.agent_id or "(queue)"
    return (f"{a.at:<9} {a.account_id:<14} {a.ticket_id:<24} {agent:<8} "
            f"{a.team_id or '-':<10} {a.method:<12} {a.reason or '-':<15} "
            f"{a.priority or '-'}")


def render(snapshot: LiveSnapshot, width: int = 160, height: int = 45,
           unlimited: str = "∞") -> list[str]:
    """The lines of one screen, none wider than `width` and at most `height` of them; the
    last assignments take the rows the other sections leave."""
    r = snapshot.rates
    top = [
        f"ticketflow make run  up {_clock(snapshot.uptime_s)}  broker {snapshot.broker}  "
        f"redis {snapshot.redis}  (Ctrl-C stops; ticketflow run --plain prints lines)",
        f"tickets in {r.created_per_s:6.1f}/s   routed {r.routed_per_s:6.1f}/s   "
        f"closed {r.closed_per_s:6.1f}/s   (last {r.window_s:.0f} s)      "
        f"since start: {r.created} created, {r.routed} routed ({r.from_queue} from the "
        f"queue), {r.closed} closed",
        "",
        "AGENTS",
        *_agent_lines(snapshot.accounts, unlimited),
        "",
        "WAITING FOR AN AGENT (the queue, by priority)",
        *_queue_lines(snapshot.accounts),
        "",
    ]
    bottom = [f"worker: {w}" for w in snapshot.warnings[-2:]]
    room = max(MIN_ASSIGNMENT_ROWS, height - len(top) - len(bottom) - 2)
    assignments = [
        "LAST ASSIGNMENTS (newest first)",
        f"{'time':<9} {'account':<14} {'ticket':<24} {'agent':<8} {'team':<10} "
        f"{'method':<12} {'reason':<15} priority",
        *(_assignment_line(a) for a in snapshot.assignments[:room]),
    ]
    lines = top + assignments + bottom
    return [line[:width].rstrip() for line in lines[:height]]
