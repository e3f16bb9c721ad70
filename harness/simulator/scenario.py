"""The day to simulate, drawn once from a workload and its seed, before any policy runs:
every ticket's arrival, what it carries, how long each agent reply takes and what the
customer and the agent do after it; every agent's online spells.

Pure and seeded: each conversation and each agent draws from a `random.Random` of its own,
seeded by (seed, what it is), so a policy that orders events differently still meets the
very same customers and the same amounts of work, and the same seed gives the same day.
A recorded `tickets.events` export can stand in for the drawn arrivals (`from_export`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.codec import decode
from schemas.events import TicketCreated, TicketMessage
from schemas.inbound import Channel
from schemas.workload import (
    CHANNELS,
    HOUR,
    Distribution,
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    Workload,
    seconds,
    shift_span,
)

End = Literal["close", "snooze", "open"]
DAY = 86400.0
Z90 = 1.2815515655446004
"""The standard normal's 90th percentile: a lognormal's p90 is median * exp(Z90 * sigma)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One agent reply and what follows it: the agent closes, snoozes or leaves the ticket
    open (`end`), and the customer writes again after `customer_delay_s` (None: not
    again)."""

    handle_s: float
    customer_delay_s: float | None
    end: End


@dataclass(frozen=True, slots=True)
class Conversation:
    """One customer's ticket. `at` and `followups` are seconds from the start of the day;
    `followups` are customer messages at fixed instants (a replayed export), used instead of
    the exchanges' customer delays."""

    index: int
    channel: Channel
    at: float
    kind: str
    segments: tuple[str, ...]
    tags: tuple[str, ...]
    subject: str
    body: str
    exchanges: tuple[Exchange, ...]
    followups: tuple[float, ...] = ()
    customer: str = ""
    """The customer's phone or email (replay); '' for a customer of its own."""

    def exchange(self, replies_sent: int) -> Exchange:
        """What the agent's reply number `replies_sent` (from 0) takes and leads to."""
        return self.exchanges[min(replies_sent, len(self.exchanges) - 1)]


@dataclass(frozen=True)
class Scenario:
    """Everything a policy run replays: conversations by arrival, agents' online spells;
    times in seconds from `start`."""

    start: datetime
    day_s: float
    horizon_s: float
    """Where the run stops: the day, then the tail with no new tickets."""
    conversations: list[Conversation]
    online: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Agent id -> online spells (from, to), seconds from the start, in order."""


def draw(dist: Distribution, rng: random.Random) -> float:
    """One duration in seconds from a distribution."""
    if isinstance(dist, Fixed):
        return seconds(dist.value)
    if isinstance(dist, Exponential):
        mean = seconds(dist.mean)
        return rng.expovariate(1.0 / mean) if mean > 0 else 0.0
    if isinstance(dist, LogNormal):
        median, p90 = seconds(dist.median), seconds(dist.p90)
        if median <= 0:
            return 0.0
        sigma = (math.log(max(p90, median)) - math.log(median)) / Z90
        return rng.lognormvariate(math.log(median), sigma)
    if isinstance(dist, Uniform):
        return rng.uniform(seconds(dist.min), seconds(dist.max))
    raise TypeError(f"not a distribution: {dist!r}")


def hourly_counts(per_hour: list[float]) -> list[int]:
    """Whole tickets per hour whose running total follows the given (fractional) rates:
    hour h gets round(sum to h+1) - round(sum to h), so the day's total is the rounded sum."""
    counts, total, placed = [], 0.0, 0
    for rate in per_hour:
        total += rate
        counts.append(round(total) - placed)
        placed += counts[-1]
    return counts


def _rng(seed: int, *what: object) -> random.Random:
    # A str seed is hashed with SHA-512 by `random`: the same on every run and platform,
    # unlike hash(), which PYTHONHASHSEED changes.
    return random.Random("/".join([str(seed), *map(str, what)]))


def arrival_times(workload: Workload) -> list[tuple[float, Channel]]:
    """Every ticket's arrival (seconds from the start) and channel, in order."""
    arrivals: list[tuple[float, int, Channel]] = []
    for order, channel in enumerate(CHANNELS):
        for hour, count in enumerate(hourly_counts(workload.arrivals.of(channel))):
            rng = _rng(workload.seed, "arrivals", channel, hour)
            arrivals += [(round(hour * HOUR + rng.random() * HOUR, 3), order, channel)
                         for _ in range(count)]
    arrivals.sort()
    return [(at, channel) for at, _, channel in arrivals]


def exchanges(workload: Workload, channel: Channel, rng: random.Random,
              count: int | None = None) -> tuple[Exchange, ...]:
    """The agent replies of one conversation: each one's handle time, what the agent does
    with the ticket then, and whether (after how long) the customer writes again, at most
    `max_replies` times. With `count` (a replay, whose customer messages are recorded):
    that many replies and no customer delays."""
    handle = workload.agent.handle_time.of(channel)
    assert handle is not None  # the workload refuses arrivals without a handle time
    customer, agent = workload.customer, workload.agent
    out: list[Exchange] = []
    for k in range(customer.max_replies + 1 if count is None else count):
        handle_s = round(draw(handle, rng), 3)
        u = rng.random()
        end: End = ("close" if u < agent.close_probability else
                    "snooze" if u < agent.close_probability + agent.snooze_probability
                    else "open")
        delay = None
        if count is None and k < customer.max_replies and \
                rng.random() < customer.reply_probability:
            delay = round(draw(customer.reply_delay, rng), 3)
        out.append(Exchange(handle_s, delay, end))
        if count is None and delay is None:
            break
    return tuple(out)


def conversations(workload: Workload) -> list[Conversation]:
    """The day's tickets: arrivals, each with a kind from the mix and its exchanges."""
    out = []
    for index, (at, channel) in enumerate(arrival_times(workload)):
        rng = _rng(workload.seed, "conversation", index)
        kinds = [k for k in workload.mix if not k.channels or channel in k.channels]
        kind = rng.choices(kinds, weights=[k.weight for k in kinds])[0]
        out.append(Conversation(
            index=index, channel=channel, at=at, kind=kind.name,
            segments=tuple(kind.segments), tags=tuple(kind.tags),
            subject=kind.subject or "Question about my order",
            body=kind.subject or "Where is my order?",
            exchanges=exchanges(workload, channel, rng)))
    return out


def online_spells(workload: Workload, until_s: float) -> dict[str, list[tuple[float, float]]]:
    """Each agent's online spells up to `until_s`: their shifts, every day (the clock runs
    on after the simulated day, and the agents come back the next morning; a shift past
    midnight also covers the first hours, as the night before), less the breaks drawn for
    them."""
    spells: dict[str, list[tuple[float, float]]] = {}
    for day in range(-1, max(1, math.ceil(until_s / DAY))):  # -1: last night's shifts
        for shift in workload.shifts:
            begin, end = (t + day * DAY for t in shift_span(shift))
            if begin < until_s and end > 0:
                for agent in shift.agents:
                    spells.setdefault(agent, []).append((max(0.0, begin), end))
    breaks = workload.agent.breaks
    out: dict[str, list[tuple[float, float]]] = {}
    for agent in workload.agent_ids():
        rng = _rng(workload.seed, "agent", agent)
        cut: list[tuple[float, float]] = []
        for begin, end in sorted(spells.get(agent, [])):
            t = begin
            while breaks is not None:
                pause = t + draw(breaks.every, rng)
                if pause >= end:
                    break
                cut.append((round(t, 3), round(pause, 3)))
                t = min(end, pause + draw(breaks.length, rng))
            if t < end:
                cut.append((round(t, 3), round(end, 3)))
        out[agent] = _merged(cut)
    return out


def _merged(spells: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for begin, end in spells:
        if end <= begin:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def from_workload(workload: Workload, tail_s: float) -> Scenario:
    """The day a workload describes, and `tail_s` after it with no new tickets."""
    horizon = workload.duration_s + tail_s
    return Scenario(start=workload.start, day_s=workload.duration_s, horizon_s=horizon,
                    conversations=conversations(workload),
                    online=online_spells(workload, horizon))


def from_export(lines: Iterable[bytes], workload: Workload, tail_s: float) -> Scenario:
    """A recorded day: tickets and their customer messages from a `tickets.events` export
    (JSON lines, one event each, as on the topic), agents and their behaviour from the
    workload. Tickets arrive when they were created, each later customer message when it
    was written; the day starts at the workload's `start`, the recording is moved so that
    its first ticket falls at the same time of day as it was recorded."""
    created: dict[str, TicketCreated] = {}
    later: dict[str, list[float]] = {}
    opened: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = decode("tickets.events", line)
        except Exception as exc:
            raise ValueError(f"line {n}: {exc}") from None
        if isinstance(event, TicketCreated):
            created.setdefault(event.ticket_id, event)
        elif (isinstance(event, TicketMessage) and event.direction == "inbound"
              and event.author_kind == "customer" and event.ticket_id in created):
            if event.ticket_id in opened:  # the first one is the message that opened it
                later[event.ticket_id].append(event.at.timestamp())
            else:
                opened.add(event.ticket_id)
                later[event.ticket_id] = []
    if not created:
        raise ValueError("the export holds no ticket.created event")
    tickets = sorted(created.values(), key=lambda e: (e.created_at, e.number, e.ticket_id))
    first = tickets[0].created_at
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    shift = workload.start.timestamp() - midnight
    out = []
    for index, ev in enumerate(tickets):
        rng = _rng(workload.seed, "conversation", index)
        at = round(ev.created_at.timestamp() + shift - workload.start.timestamp(), 3)
        followups = tuple(round(t + shift - workload.start.timestamp(), 3)
                          for t in sorted(later.get(ev.ticket_id, [])))
        out.append(Conversation(
            index=index, channel=ev.channel, at=at, kind="replayed",
            segments=tuple(ev.segments), tags=tuple(ev.tags),
            subject=ev.subject or "", body=ev.body or "(replayed message)",
            exchanges=exchanges(workload, ev.channel, rng,
                                count=len(later.get(ev.ticket_id, [])) + 2),
            followups=followups,
            customer=(ev.customer.phone if ev.channel == "sms" else ev.customer.email) or ""))
    last = max([c.at for c in out] + [t for c in out for t in c.followups])
    day_s = max(workload.duration_s, math.ceil(last / HOUR) * HOUR)
    return Scenario(start=workload.start, day_s=day_s, horizon_s=day_s + tail_s,
                    conversations=out, online=online_spells(workload, day_s + tail_s))
