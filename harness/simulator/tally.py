"""What a policy run shows, counted from the `tickets.events` it published (as a downstream
consumer would count them) and the agents' presence: time to first assignment, waiting
tickets, open tickets per agent, reassignments, auto-closes.

Pure: `Tally` folds events in the order they were published, with the simulated time of
each; `Tally.figures` turns that into `Figures` (the side-by-side table) and `Series` (the
report's plots). Nothing here reads a clock, Redis or a file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from schemas.events import TicketAssigned, TicketCreated, TicketMessage, TicketStatus

AUTOMATIC = frozenset({"round_robin", "balanced", "backlog", "solo"})
"""Assignment methods capacity bounds (R11)."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile of `values` (p in 0-100], None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def gini(values: Iterable[float]) -> float:
    """The Gini coefficient of non-negative amounts: 0 when all are equal, towards 1 when
    one holds everything; 0 for no amounts or all zero."""
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * x for i, x in enumerate(ordered))
    return 2 * weighted / (n * total) - (n + 1) / n


def _since(begin: float, end: float) -> float:
    return max(0.0, round(end - begin, 3))


class Figures(msgspec.Struct, kw_only=True):
    """One policy's figures (times in seconds; None where nothing was measured)."""

    policy: str
    tickets: int
    assigned: int
    never_assigned: int
    waiting_at_end: int
    first_assignment_p50: float | None
    first_assignment_p95: float | None
    first_assignment_p99: float | None
    longest_wait: float
    peak_waiting: int
    peak_waiting_at: float
    spread_peak: int
    spread_mean: float
    gini: float
    assignments: dict[str, int]
    reassignments: int
    auto_closes: int
    closed_by_agents: int
    over_sla: int
    sla: float
    first_reply_p50: float | None
    first_reply_p95: float | None
    over_capacity: int
    """Automatic assignments that left their agent above capacity on the channel (R11)."""


class Series(msgspec.Struct, kw_only=True):
    """The plots' data: samples every `step` seconds from the start."""

    step: float
    waiting: list[int]
    open_per_agent: dict[str, list[int]]
    waits: list[float]
    """Every ticket's time to first assignment; a ticket never assigned counts its wait
    to the end of the run."""
    never_assigned_waits: list[float]
    first_replies: list[float]
    """Every answered ticket's time to its first agent reply."""
    never_replied: list[float]
    """The wait to the end of the run of each ticket no agent answered."""


@dataclass(slots=True)
class _Ticket:
    created: float
    channel: str
    status: str = "open"
    agent: str | None = None
    first_assigned: float | None = None
    first_reply: float | None = None
    ended: float | None = None
    """When it was closed while nobody had it assigned: its wait ends there."""


class Tally:
    """Counts of one run, event by event. Times are seconds from `start` (epoch seconds):
    `t` of `observe` is when an event was published; a ticket waits from its `created_at`
    (the customer's message) and is answered at its reply's `at`."""

    def __init__(self, agents: Sequence[str], capacities: Mapping[str, Mapping[str, int]],
                 day_s: float, start: float = 0.0, step: float = 60.0) -> None:
        self._agents = list(agents)
        self._t0 = start
        self._capacity = capacities
        self._day = day_s
        self._step = step
        self._tickets: dict[str, _Ticket] = {}
        self._open: dict[str, int] = dict.fromkeys(self._agents, 0)
        self._open_on: dict[tuple[str, str], int] = {}
        self._online: dict[str, bool] = dict.fromkeys(self._agents, False)
        self._assignments: dict[str, int] = dict.fromkeys(self._agents, 0)
        self._waiting = 0
        self._changed = 0.0
        self._peak = (0, 0.0)
        self._reassignments = 0
        self._auto_closes = 0
        self._closed_by_agents = 0
        self._over_capacity = 0
        self._next_sample = 0.0
        self._samples_waiting: list[int] = []
        self._samples_open: dict[str, list[int]] = {a: [] for a in self._agents}
        self._spreads: list[int] = []

    # -- what happened ------------------------------------------------------------------

    def presence(self, agent: str, online: bool) -> None:
        """The agent went online or offline (spread counts online agents only)."""
        self._agent(agent)
        self._online[agent] = online

    def observe(self, t: float, event: msgspec.Struct) -> None:
        """One published `tickets.events` event at simulated time `t`."""
        if isinstance(event, TicketCreated):
            if event.ticket_id not in self._tickets:  # waits from the customer's message
                self._tickets[event.ticket_id] = _Ticket(
                    created=self._seconds(event.created_at), channel=event.channel)
                self._set_waiting(self._waiting + 1, t)
        elif isinstance(event, TicketAssigned):
            self._assigned(t, event)
        elif isinstance(event, TicketStatus):
            self._status(t, event)
        elif isinstance(event, TicketMessage):
            ticket = self._tickets.get(event.ticket_id)
            if (ticket is not None and event.direction == "outbound"
                    and event.author_kind == "agent" and ticket.first_reply is None):
                ticket.first_reply = self._seconds(event.at)

    def _seconds(self, at: datetime) -> float:
        """An event's time in seconds from the start, to the millisecond the simulated
        clock moves in."""
        return round(at.timestamp() - self._t0, 3)

    def advance(self, t: float) -> None:
        """Take the samples due at or before `t` (call before applying events at `t`). The
        peak of waiting tickets is taken here too, once the events of an instant are all
        in: a ticket created and assigned at the same instant never waited."""
        if self._waiting > self._peak[0]:
            self._peak = (self._waiting, self._changed)
        while self._next_sample <= t:
            s = self._next_sample
            self._samples_waiting.append(self._waiting)
            for agent in self._agents:
                self._samples_open[agent].append(self._open[agent])
            online = [self._open[a] for a in self._agents if self._online[a]]
            if s < self._day and len(online) >= 2:
                self._spreads.append(max(online) - min(online))
            self._next_sample += self._step

    def _agent(self, agent: str) -> None:
        if agent not in self._open:  # assigned, though it has no shift
            self._agents.append(agent)
            self._open[agent] = 0
            self._online[agent] = False
            self._assignments[agent] = 0
            self._samples_open[agent] = [0] * len(self._samples_waiting)

    def _set_waiting(self, waiting: int, t: float) -> None:
        self._waiting = waiting
        self._changed = t

    def _count(self, ticket: _Ticket, agent: str | None, delta: int, t: float) -> None:
        """An open ticket joins (+1) or leaves (-1) an agent's count, or the waiting."""
        if agent is None:
            self._set_waiting(self._waiting + delta, t)
            return
        self._agent(agent)
        self._open[agent] += delta
        key = (agent, ticket.channel)
        self._open_on[key] = self._open_on.get(key, 0) + delta

    def _assigned(self, t: float, ev: TicketAssigned) -> None:
        ticket = self._tickets.get(ev.ticket_id)
        if ticket is None:
            return
        previous, agent = ticket.agent, ev.agent_id
        if agent == previous:
            return
        if ticket.status == "open":
            self._count(ticket, previous, -1, t)
            self._count(ticket, agent, +1, t)
        ticket.agent = agent
        if previous is not None:
            self._reassignments += 1
        if agent is None:
            return
        self._agent(agent)
        self._assignments[agent] += 1
        if ticket.first_assigned is None:
            ticket.first_assigned = t
        capacity = self._capacity.get(agent, {}).get(ticket.channel)
        if (ev.method in AUTOMATIC and capacity is not None and ticket.status == "open"
                and self._open_on[(agent, ticket.channel)] > capacity):
            self._over_capacity += 1

    def _status(self, t: float, ev: TicketStatus) -> None:
        ticket = self._tickets.get(ev.ticket_id)
        if ticket is None or ev.status == ticket.status:
            return
        if ticket.status == "open":
            self._count(ticket, ticket.agent, -1, t)
        elif ev.status == "open":
            self._count(ticket, ticket.agent, +1, t)
        ticket.status = ev.status
        if ev.status == "closed":
            if ev.reason == "inactivity":
                self._auto_closes += 1
            elif ev.reason == "agent":
                self._closed_by_agents += 1
            if ticket.agent is None and ticket.first_assigned is None:
                ticket.ended = t
        elif ticket.first_assigned is None:
            ticket.ended = None

    # -- what it comes to ---------------------------------------------------------------

    def state(self) -> dict[str, int]:
        """Counts to hold against Redis at the end: tickets per status, open unassigned,
        open per agent (`open:<agent>`)."""
        out = {"open": 0, "snoozed": 0, "closed": 0, "unassigned": 0}
        for ticket in self._tickets.values():
            out[ticket.status] += 1
            out["unassigned"] += ticket.status == "open" and ticket.agent is None
        out.update({f"open:{a}": n for a, n in self._open.items() if n})
        return out

    def figures(self, policy: str, end: float, sla_s: float) -> tuple[Figures, Series]:
        """The run's figures, its tickets' waits counted up to `end` (seconds)."""
        waits, never, first_replies, unanswered = [], [], [], []
        for ticket in self._tickets.values():
            if ticket.first_assigned is not None:
                waits.append(_since(ticket.created, ticket.first_assigned))
            else:
                never.append(_since(ticket.created,
                                    ticket.ended if ticket.ended is not None else end))
            if ticket.first_reply is not None:
                first_replies.append(_since(ticket.created, ticket.first_reply))
            else:
                unanswered.append(_since(ticket.created, end))
        assigned_waits = list(waits)
        figures = Figures(
            policy=policy, tickets=len(self._tickets), assigned=len(assigned_waits),
            never_assigned=len(never), waiting_at_end=self._waiting,
            first_assignment_p50=percentile(assigned_waits, 50),
            first_assignment_p95=percentile(assigned_waits, 95),
            first_assignment_p99=percentile(assigned_waits, 99),
            longest_wait=max(assigned_waits + never, default=0.0),
            peak_waiting=self._peak[0], peak_waiting_at=self._peak[1],
            spread_peak=max(self._spreads, default=0),
            spread_mean=sum(self._spreads) / len(self._spreads) if self._spreads else 0.0,
            gini=gini(self._assignments.values()),
            assignments=dict(self._assignments),
            reassignments=self._reassignments, auto_closes=self._auto_closes,
            closed_by_agents=self._closed_by_agents,
            over_sla=sum(1 for w in assigned_waits + never if w > sla_s), sla=sla_s,
            first_reply_p50=percentile(first_replies, 50),
            first_reply_p95=percentile(first_replies, 95),
            over_capacity=self._over_capacity)
        series = Series(step=self._step, waiting=list(self._samples_waiting),
                        open_per_agent={a: list(v) for a, v in self._samples_open.items()},
                        waits=assigned_waits, never_assigned_waits=never,
                        first_replies=first_replies, never_replied=unanswered)
        return figures, series
