"""Load-aware choice of agent (SPEC R11-R14) and the waiting queue's order (R12).

Pure functions over plain values; the router's Lua scripts make the same choices atomically
in Redis, and **the Lua must agree with these functions** (same eligibility, same order,
same tie-breaks): tests/router/test_capacity.py states their properties, and a Lua test can
replay its cases against the script. Nothing here reads Redis, Kafka or the clock.

- Eligible (R3, R11, R14): online, every required skill (any level), and room on the
  ticket's channel: fewer `open` tickets there than its capacity (no capacity: unlimited;
  0: never). Manual assignment and a rule naming an agent do not ask (R11).
- Round robin (R2): the first eligible agent after the pool's cursor (the last agent
  served) in document order, wrapping; agents that are full, offline or lack a skill are
  skipped and the cursor does not pass them, so they are next in line once eligible.
- Balanced (R13): the eligible agent with the fewest open assigned tickets, counted on
  every channel (R13 says "fewest open assigned tickets", while R11 bounds per channel);
  ties go to the oldest last automatic assignment (never assigned is oldest), then to
  document order.
- The queue (R12): waiting tickets by priority (`urgent`, `high`, `normal`, `low`), then
  arrival (the ticket number); a drain takes them in that order and gives each, by the
  account's method, to an eligible agent. A ticket nobody can take keeps waiting and does
  not hold back the tickets behind it; each assignment takes one place, so one freed place
  assigns one ticket.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import msgspec

from schemas.config import AccountDocument, AgentConfig, AssignmentMethod
from schemas.events import Priority
from schemas.inbound import Channel

CHANNELS: tuple[Channel, ...] = ("sms", "email", "webchat")
DEFAULT_PRIORITY: Priority = "normal"
"""A ticket no rule gave a priority (R12)."""
PRIORITY_RANK: dict[Priority, int] = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
"""Lower ranks leave the queue first."""
SEQUENCE_SPAN = 2**40
"""Ticket numbers below this keep `queue_score` exact in a Redis sorted-set score (a
double, exact to 2**53): 4 ranks * 2**40 = 2**42."""


class AgentLoad(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as the choice sees them: presence, open tickets, capacity, skills.

    `last_assigned` orders automatic assignments (larger is newer): a per-account counter
    rather than a clock, so that several assignments within one millisecond, in one drain,
    still have an order. None: never assigned automatically.
    """

    agent_id: str
    online: bool
    open: Mapping[Channel, int] = {}
    capacity: Mapping[Channel, int] = {}
    skills: frozenset[str] = frozenset()
    last_assigned: int | None = None

    def open_on(self, channel: Channel) -> int:
        """Open tickets assigned to the agent on a channel (snoozed and closed do not count)."""
        return self.open.get(channel, 0)

    @property
    def open_total(self) -> int:
        """Open tickets assigned to the agent on every channel (R13's count)."""
        return sum(self.open.values())


class WaitingTicket(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket in the queue (R12): who may take it and where it stands in line."""

    ticket_id: str
    sequence: int  # arrival order: the ticket's number in its account
    channel: Channel
    pool: str  # the rotation it waits in, a team or the whole account (rotation.pool_key)
    priority: Priority = DEFAULT_PRIORITY
    skills: frozenset[str] = frozenset()


class Routing(msgspec.Struct, frozen=True, kw_only=True):
    """The account's state a drain reads and moves: loads, pools, method, cursors."""

    agents: Mapping[str, AgentLoad]
    pools: Mapping[str, Sequence[str]]  # pool -> the agent ids taking turns, document order
    method: AssignmentMethod = "round_robin"
    cursors: Mapping[str, str] = {}  # pool -> the last agent it served (round robin)
    next_stamp: int = 1  # the `last_assigned` of the next automatic assignment


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """One waiting ticket given to an agent by a drain (method `backlog`)."""

    ticket_id: str
    agent_id: str


def load_of(agent: AgentConfig, online: bool, open_counts: Mapping[Channel, int],
            last_assigned: int | None = None) -> AgentLoad:
    """An agent of the account document with its live presence and counts."""
    capacity = {c: n for c in CHANNELS if (n := agent.capacity.on(c)) is not None}
    return AgentLoad(agent_id=agent.id, online=online, open=dict(open_counts),
                     capacity=capacity, skills=frozenset(agent.skills),
                     last_assigned=last_assigned)


def required_skills(account: AccountDocument, rule_id: str | None) -> frozenset[str]:
    """The skills the matching rule requires of the ticket's agent (R14); none without one."""
    for rule in account.rules:
        if rule.id == rule_id:
            return frozenset(rule.actions.skills)
    return frozenset()


def has_room(agent: AgentLoad, channel: Channel) -> bool:
    """Whether one more automatic assignment on the channel keeps the agent within capacity
    (R11); what `solo` (R8) asks, which ignores presence."""
    limit = agent.capacity.get(channel)
    return limit is None or agent.open_on(channel) < limit


def is_eligible(agent: AgentLoad, channel: Channel, skills: Collection[str]) -> bool:
    """Online, with every required skill and room on the channel (R3, R11, R14)."""
    return agent.online and has_room(agent, channel) and all(s in agent.skills for s in skills)


def choose_agent(candidates: Sequence[AgentLoad], channel: Channel,
                 skills: Collection[str] = (), method: AssignmentMethod = "round_robin",
                 cursor: str | None = None) -> str | None:
    """The agent that automatically gets a ticket of this channel, or None: it waits (R12).

    `candidates` is the ticket's pool in document order; `cursor` the last agent the pool
    served (round robin; unknown or None starts at the first agent).
    """
    eligible = [(i, a) for i, a in enumerate(candidates) if is_eligible(a, channel, skills)]
    if not eligible:
        return None
    if method == "balanced":
        return min(eligible, key=lambda ia: (ia[1].open_total, _age(ia[1]), ia[0]))[1].agent_id
    ids = [a.agent_id for a in candidates]
    start = ids.index(cursor) + 1 if cursor in ids else 0
    n = len(candidates)
    return min(eligible, key=lambda ia: (ia[0] - start) % n)[1].agent_id


def _age(agent: AgentLoad) -> int:
    # Never assigned sorts before every stamp (stamps start at 1).
    return agent.last_assigned if agent.last_assigned is not None else 0


def queue_key(ticket: WaitingTicket) -> tuple[int, int]:
    """Where a ticket stands in the queue: priority first, then arrival (R12)."""
    return PRIORITY_RANK[ticket.priority], ticket.sequence


def queue_score(priority: Priority, sequence: int) -> int:
    """`queue_key` as one number, for a Redis sorted set (lowest leaves first)."""
    if not 0 <= sequence < SEQUENCE_SPAN:
        raise ValueError(f"ticket number {sequence} outside 0..2**40")
    return PRIORITY_RANK[priority] * SEQUENCE_SPAN + sequence


def queue_order(waiting: Iterable[WaitingTicket]) -> list[WaitingTicket]:
    """The waiting tickets in the order they are assigned."""
    return sorted(waiting, key=queue_key)


def assign_one(routing: Routing, ticket: WaitingTicket) -> tuple[str | None, Routing]:
    """Give one ticket to an agent by the account's method, or None; the routing after it:
    the agent's count on the channel and their stamp moved (every method, so a switch to
    balanced finds true ages), and with round robin the pool's cursor."""
    pool = routing.pools.get(ticket.pool, ())
    candidates = [routing.agents[a] for a in pool if a in routing.agents]
    chosen = choose_agent(candidates, ticket.channel, ticket.skills, routing.method,
                          routing.cursors.get(ticket.pool))
    if chosen is None:
        return None, routing
    agent = routing.agents[chosen]
    loaded = msgspec.structs.replace(
        agent, open={**agent.open, ticket.channel: agent.open_on(ticket.channel) + 1},
        last_assigned=routing.next_stamp)
    cursors = routing.cursors
    if routing.method == "round_robin":
        cursors = {**cursors, ticket.pool: chosen}
    return chosen, msgspec.structs.replace(
        routing, agents={**routing.agents, chosen: loaded}, cursors=cursors,
        next_stamp=routing.next_stamp + 1)


def drain(routing: Routing, waiting: Iterable[WaitingTicket]
          ) -> tuple[list[Assignment], Routing]:
    """Assign waiting tickets to the places free now, in queue order (R12).

    Every ticket is considered once; one an eligible agent can take is assigned and takes
    that place, one nobody can take keeps waiting without blocking those behind it. After
    a drain no waiting ticket has an eligible agent, so a freed place is never left free
    while a ticket it fits waits, and one freed place assigns at most one ticket.
    """
    assignments: list[Assignment] = []
    for ticket in queue_order(waiting):
        chosen, routing = assign_one(routing, ticket)
        if chosen is not None:
            assignments.append(Assignment(ticket_id=ticket.ticket_id, agent_id=chosen))
    return assignments, routing
