"""The workload file of `ticketflow simulate` (SPEC X7): a day of traffic described by its
arrivals per channel per hour, what the tickets carry, the agents' shifts and how agents
and customers behave, and a seed.

Not a topic: the simulator's input file, here because `schemas/` is the one home of the
Structs we validate. A refusal names the field (`field $.shifts[0].online: ...`), as an
account document's does. Durations are written `90s`, `5m`, `1h30m`, `2d`; clock times
`HH:MM` from the start of the simulated day (UTC).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Union

import msgspec

from schemas.common import Id, Label, Name, Timestamp, Wire
from schemas.config import ClockTime, _yaml_loader
from schemas.inbound import Channel

DurationText = Annotated[str, msgspec.Meta(
    pattern=r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$",
    description="a duration: 90s, 5m, 1h30m, 2d")]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
HOUR = 3600.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": HOUR, "d": 86400.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$")
CHANNELS: tuple[Channel, ...] = ("sms", "email", "webchat")


def seconds(text: str) -> float:
    """`1h30m` -> 5400.0; a text that is not a duration raises ValueError."""
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 5m, 1h30m, 2d)")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def clock_seconds(text: str) -> float:
    """`06:30` -> seconds after the start of the day."""
    hours, minutes = text.split(":")
    return int(hours) * HOUR + int(minutes) * 60.0


class Fixed(Wire, tag_field="dist", tag="fixed", forbid_unknown_fields=True):
    """Always the same duration."""

    value: DurationText


class Exponential(Wire, tag_field="dist", tag="exponential", forbid_unknown_fields=True):
    """Memoryless, with this mean (gaps between independent events)."""

    mean: DurationText


class LogNormal(Wire, tag_field="dist", tag="lognormal", forbid_unknown_fields=True):
    """Skewed to the right, as handle and reply times are: half below `median`, nine in
    ten below `p90`."""

    median: DurationText
    p90: DurationText

    def __post_init__(self) -> None:
        if seconds(self.p90) < seconds(self.median):
            raise ValueError(f"p90: {self.p90} is below the median {self.median}")


class Uniform(Wire, tag_field="dist", tag="uniform", forbid_unknown_fields=True):
    """Any duration between `min` and `max`, equally likely."""

    min: DurationText
    max: DurationText

    def __post_init__(self) -> None:
        if seconds(self.max) < seconds(self.min):
            raise ValueError(f"max: {self.max} is below min {self.min}")


Distribution = Union[Fixed, Exponential, LogNormal, Uniform]
"""A random duration, tagged by `dist`."""

HourlyCounts = list[Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]]


class Arrivals(Wire, forbid_unknown_fields=True):
    """New tickets per hour of the simulated day, one number per hour from the start, by
    channel; a channel left out gets none. Each hour gets that many tickets (rounded, the
    fractions carried to the next hour), at random instants within it."""

    sms: HourlyCounts = []
    email: HourlyCounts = []
    webchat: HourlyCounts = []

    def of(self, channel: Channel) -> list[float]:
        return {"sms": self.sms, "email": self.email, "webchat": self.webchat}[channel]


class TicketKind(Wire, forbid_unknown_fields=True):
    """One kind of ticket in the mix and its share (`weight`, relative to the others). What
    it carries is what the account documents' rules look at: segments, tags, subject (R1),
    so the policies decide which priority and skills each kind gets (R12, R14)."""

    weight: Annotated[float, msgspec.Meta(gt=0)]
    name: Name = ""
    channels: list[Channel] = []
    """Only tickets of these channels are of this kind; empty: every channel."""
    segments: list[Label] = []
    tags: list[Label] = []
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""


class Shift(Wire, forbid_unknown_fields=True):
    """Agents online from `online` to `offline` (clock times of the day; an `offline`
    at or before `online` ends the next day)."""

    agents: Annotated[list[Id], msgspec.Meta(min_length=1)]
    online: ClockTime
    offline: ClockTime


class Breaks(Wire, forbid_unknown_fields=True):
    """Agents go offline during their shift: after `every` online, for `length`."""

    every: Distribution
    length: Distribution


class HandleTimes(Wire, forbid_unknown_fields=True):
    """How long an agent takes over one reply, by channel."""

    sms: Distribution | None = None
    email: Distribution | None = None
    webchat: Distribution | None = None

    def of(self, channel: Channel) -> Distribution | None:
        return {"sms": self.sms, "email": self.email, "webchat": self.webchat}[channel]


class AgentBehaviour(Wire, forbid_unknown_fields=True):
    """Simulated agents answer their tickets one at a time, oldest task first. After each
    reply the agent closes the ticket (`close_probability`), snoozes it pending the
    customer (`snooze_probability`) or leaves it open. A customer who writes again reopens
    or unsnoozes it (I3); snoozed and open tickets of quiet customers wait for the
    auto-close (C1)."""

    handle_time: HandleTimes
    close_probability: Probability = 0.7
    snooze_probability: Probability = 0.2
    breaks: Breaks | None = None
    heartbeat: DurationText | None = None
    """Send a presence heartbeat this often while online (for accounts with a presence
    timeout, R3); none: online and offline only."""

    def __post_init__(self) -> None:
        if self.close_probability + self.snooze_probability > 1:
            raise ValueError("snooze_probability: close_probability + snooze_probability "
                             "is above 1")
        if self.heartbeat is not None and seconds(self.heartbeat) <= 0:
            raise ValueError("heartbeat: must be above 0")


class CustomerBehaviour(Wire, forbid_unknown_fields=True):
    """After each agent reply the customer writes again with `reply_probability`, after
    `reply_delay`, at most `max_replies` times per ticket, whatever the agent did with it."""

    reply_probability: Probability = 0.3
    reply_delay: Distribution = LogNormal(median="10m", p90="2h")
    max_replies: Annotated[int, msgspec.Meta(ge=0, le=50)] = 3


class Workload(Wire, forbid_unknown_fields=True):
    """A day of traffic and the people in it; the same file and seed give the same day."""

    name: Name
    start: Timestamp
    """The first instant of the simulated day."""
    arrivals: Arrivals
    shifts: Annotated[list[Shift], msgspec.Meta(min_length=1)]
    agent: AgentBehaviour
    seed: int = 1
    duration: DurationText = "24h"
    tail: DurationText | None = None
    """How long the clock runs on after the day (no new tickets): auto-closes and late
    assignments still happen. None: the longest auto-close period of the policies, plus an
    hour."""
    batch_window: DurationText = "0s"
    """Records the workers take together, as a consume loop takes what arrived while it
    waited (`TICKETFLOW_BATCH_WAIT_MS`): every event happens at its own instant, and what it
    sends reaches the workers at the end of its window. 0s: each instant on its own."""
    closer_tick: DurationText = "1m"
    """How often the simulated closer runs: it takes the `timers` records sent since its
    last tick, then fires the countdowns due. The real closer consumes as records come
    and wakes at each due time; here an auto-close is at most this late, and the closer
    costs a pass per tick instead of one per record and per ticket (0s: exact)."""
    mix: Annotated[list[TicketKind], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [TicketKind(weight=1)])
    customer: CustomerBehaviour = CustomerBehaviour()

    def __post_init__(self) -> None:
        hours = math.ceil(self.duration_s / HOUR)
        if hours < 1:
            raise ValueError("duration: must be at least 1h")
        for channel in CHANNELS:
            counts = self.arrivals.of(channel)
            if counts and len(counts) != hours:
                raise ValueError(f"arrivals.{channel}: {len(counts)} hourly numbers for a "
                                 f"duration of {hours} hours")
            if any(counts) and self.agent.handle_time.of(channel) is None:
                raise ValueError(f"agent.handle_time.{channel}: required, the workload has "
                                 f"{channel} arrivals")
            if any(counts) and not any(not k.channels or channel in k.channels
                                       for k in self.mix):
                raise ValueError(f"mix: no kind of ticket for channel {channel!r}")
        seen: dict[str, list[tuple[float, float]]] = {}
        for i, shift in enumerate(self.shifts):
            begin, end = shift_span(shift)
            for agent in shift.agents:
                for other in seen.get(agent, []):
                    if begin < other[1] and other[0] < end:
                        raise ValueError(f"shifts[{i}].agents: {agent!r} has overlapping "
                                         "shifts")
                seen.setdefault(agent, []).append((begin, end))

    @property
    def duration_s(self) -> float:
        return seconds(self.duration)

    def agent_ids(self) -> list[str]:
        """Every agent with a shift, in order of first appearance."""
        return list(dict.fromkeys(a for shift in self.shifts for a in shift.agents))


def shift_span(shift: Shift) -> tuple[float, float]:
    """(online, offline) in seconds from the start of the day; an offline time at or
    before the online time is the next day's."""
    begin, end = clock_seconds(shift.online), clock_seconds(shift.offline)
    return begin, end if end > begin else end + 86400.0


def load_workload_yaml(text: str) -> Workload:
    """Parse and validate a workload written in YAML; a refusal raises
    msgspec.ValidationError naming the field."""
    import yaml

    raw = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
    return msgspec.convert(raw, type=Workload)

