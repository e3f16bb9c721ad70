"""What the fault runs share: the traffic they send through all four worker kinds, the
follow-through that answers and closes every ticket, the invariants checked against the
inputs, and the counts printed. The chaos run kills replicas and Redis; the broker-fault
run kills Kafka nodes; both are judged the same way.

Every agent has a capacity per channel (R11) small enough that tickets wait in the queue
(R12): the follow-through answers and closes tickets in rounds, each round's closes free
the places that the waiting tickets then take (method backlog), until every ticket is
closed; the events are replayed at the end to show that no automatic assignment ever put an
agent above capacity."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import redis

from harness.processes import WorkerProcess
from schemas.agent_app import Presence, ReplyCommand
from schemas.codec import encode
from schemas.config import AccountDocument, AgentConfig, AutoClose, Capacity, HandoffSettings
from schemas.events import DeadLetter, TicketAssigned, TicketCreated, TicketMessage, TicketStatus
from schemas.handoff import HandoffRequest, HandoffVisitor, TranscriptLine
from schemas.internal import CountdownStart
from tests.conftest import ClockControl
from tests.handoff.conftest import ZENDESK_TOKEN_ENV
from tests.handoff.fakes import FakeHelpdesk
from tests.messages import chat, email, sms
from tests.pipeline import Pipeline

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HANDOFFS = 20
AGENTS = 5
AUTOMATIC = {"round_robin", "rule", "solo", "backlog"}
MALFORMED = b'{"account_id": 42}'
CAPACITY = {"sms": 12, "email": 12, "webchat": 8}
"""Open tickets each agent takes automatically per channel: on 5 agents, of the chaos run's
450 conversations (150 per channel) 90 SMS, 90 emails and 110 chats wait at first; of the
broker-fault run's 200 or more, some of each channel."""

Record = tuple[str, str, bytes]


def account(fake: FakeHelpdesk) -> AccountDocument:
    return AccountDocument(
        account_id="acme", version=1, round_robin=True,
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@acme.example",
                            role="support", notify=["in_app"], capacity=Capacity(**CAPACITY))
                for i in range(AGENTS)],
        auto_close=AutoClose(enabled=True, days=2),
        handoff=HandoffSettings(method="zendesk", base_url=fake.url, email=fake.email,
                                token_env=ZENDESK_TOKEN_ENV))


def conversation(i: int, turn: int) -> tuple[str, str, msgspec.Struct]:
    when = T0 + timedelta(seconds=turn)
    if i % 3 == 0:
        m = sms(message_id=f"SM-{i}-{turn}", from_number=f"+1777{i:07d}", received_at=when)
        return "inbound.sms", m.from_number, m
    if i % 3 == 1:
        m = email(message_id=f"<{i}-{turn}@mail.example>", from_email=f"c{i}@example.com",
                  received_at=when, in_reply_to=f"<{i}-0@mail.example>" if turn else None)
        return "inbound.email", m.from_email, m
    m = chat(message_id=f"wc-{i}-{turn}", session_id=f"s-{i}", sent_at=when)
    return "inbound.webchat", m.session_id, m


def handoff_request(n: int) -> bytes:
    return encode(HandoffRequest(
        handoff_id=f"h-{n}", account_id="acme", conversation_id=f"conv-{n}",
        channel="webchat", consent=True, requested_at=T0,
        visitor=HandoffVisitor(email="ana@example.com", name="Ana", authenticated=True),
        transcript=[TranscriptLine(author="visitor", text="help", at=T0)]))


class Traffic:
    """The inputs of a run, built conversation by conversation, and what is known about
    them: each conversation opens a ticket with two customer messages; every 30th carries
    a malformed record, every 20th a handoff request (HANDOFFS at most)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.message_ids: dict[str, int] = {}  # message -> its conversation
        self.bad_keys: set[str] = set()
        self.handoff_ids: set[str] = set()
        self.conversations = 0

    def add(self, count: int) -> list[Record]:
        """The next `count` conversations: their first messages, then their second ones
        with the malformed records and handoff requests among them."""
        first = self.conversations
        block: list[Record] = []
        for turn in range(2):
            for i in range(first, first + count):
                topic, key, m = conversation(i, turn)
                block.append((topic, key, encode(m)))
                self.message_ids[m.message_id] = i  # type: ignore[attr-defined]
                if turn == 1 and i % 30 == 0:
                    block.append(("inbound.sms", f"bad-{i}", MALFORMED))
                    self.bad_keys.add(f"bad-{i}")
                if turn == 1 and i % 20 == 0 and i // 20 < HANDOFFS:
                    n = i // 20
                    block.append(("handoff.requests", f"conv-{n}", handoff_request(n)))
                    self.handoff_ids.add(f"h-{n}")
        self.conversations += count
        self.records.extend(block)
        return block

    def stream(self, stop: threading.Event, block: int, at_least: int) -> Iterator[Record]:
        """Blocks of conversations for as long as `stop` is not set and at least
        `at_least` conversations: traffic that lasts as long as the faults do. Read only
        `message_ids` and the rest once the stream is exhausted."""
        while not stop.is_set() or self.conversations < at_least:
            yield from self.add(block)


def bring_online(pipeline: Pipeline, workers: list[WorkerProcess]) -> None:
    """Wait until every replica is ready and the routers have every agent online."""
    for worker in workers:
        worker.wait_for_log(r"ready", 120)
    for i in range(AGENTS):
        pipeline.publish("agents.presence", f"a{i}", Presence(
            account_id="acme", agent_id=f"a{i}", actor_id=f"a{i}", status="online", at=T0))
    online = pipeline.keys.online("acme")
    deadline = time.monotonic() + 60
    while pipeline.redis.zcard(online) < AGENTS:  # the routers applied the presence records
        assert time.monotonic() < deadline, "presence not applied"
        pipeline.events.poll(50)


@dataclass
class Outcome:
    """What the outputs showed: the inputs' tickets, handoff results and dead letters, and
    (once the replicas have stopped) every event with its record's create time."""

    tickets: set[str]
    results: list[Any]
    letters: list[Any]
    events: list[Any] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)
    rounds: int = 0


def holders(events: list[Any]) -> dict[str, str]:
    """Each ticket's agent as the events last said, for the tickets that have one."""
    held: dict[str, str] = {}
    for r in events:
        if isinstance(r, TicketAssigned):
            if r.agent_id:
                held[r.ticket_id] = r.agent_id
            else:
                held.pop(r.ticket_id, None)
    return held


def wait_routed(pipeline: Pipeline, tickets: set[str], timeout_s: float = 240) -> None:
    """Until the router routed every ticket: to an agent, or into the queue. A ticket that
    waits with no team changes no responsibility, so only its hash (`routed`) tells."""
    deadline = time.monotonic() + timeout_s
    order = sorted(tickets)
    while True:
        batch = pipeline.redis.pipeline(transaction=False)
        for t in order:
            batch.hexists(pipeline.keys.ticket("acme", t), "routed")
        try:
            left = [t for t, done in zip(order, batch.execute(), strict=True) if not done]
        except redis.ConnectionError:  # a connection from before a Redis restart
            left = order
        if not left:
            return
        assert time.monotonic() < deadline, f"{len(left)} tickets never routed: {left[:5]}"
        pipeline.events.poll(100)


def follow_through(pipeline: Pipeline, clock: ClockControl, traffic: Traffic,
                   while_closing: Callable[[], None] = lambda: None) -> Outcome:
    """After the traffic: wait until every message is threaded and every ticket routed
    (assigned, or waiting for a place), then in rounds: each ticket's agent answers it,
    the clock moves two days on so that those tickets auto-close, and the places they
    free take the waiting tickets; until every ticket is closed and the queue is empty.
    Then wait for the handoff results and the dead letters. `while_closing` runs once the
    first round's closes are due, before the clock passes the closer's claim lease."""
    message_ids = traffic.message_ids

    def threaded(rs: list[Any]) -> bool:
        return len({r.message_id for r in rs if isinstance(r, TicketMessage)
                    and r.message_id in message_ids}) == len(message_ids)
    events = pipeline.events.wait_for(threaded, timeout_s=240, what="all threaded")
    tickets = {r.ticket_id for r in events if isinstance(r, TicketMessage)
               and r.message_id in message_ids}
    wait_routed(pipeline, tickets)
    channel = {r.ticket_id: r.channel for r in pipeline.events.records
               if isinstance(r, TicketCreated)}

    def closed(rs: list[Any]) -> set[str]:
        return {r.ticket_id for r in rs if isinstance(r, TicketStatus) and r.status == "closed"}

    now, answered, rounds = T0, set[str](), 0
    while answered != tickets:
        # Whoever waits takes the places the last round freed: each agent has room for
        # CAPACITY per channel again, so that many per channel (or all who wait) get one.
        waiting = tickets - answered
        expect = {c: min(sum(channel[t] == c for t in waiting), AGENTS * n)
                  for c, n in CAPACITY.items()}

        def placed(rs: list[Any], waiting: set[str] = waiting,
                   expect: dict[str, int] = expect) -> bool:
            held = holders(rs)
            return all(sum(channel[t] == c for t in waiting if t in held) >= n
                       for c, n in expect.items())
        events = pipeline.events.wait_for(placed, timeout_s=240,
                                          what=f"round {rounds + 1} assigned")
        todo = sorted(t for t in waiting if t in holders(events))
        rounds += 1
        # Each ticket's agent answers it: the countdowns start; two days later they close.
        held = holders(events)
        for ticket in todo:
            pipeline.publish("tickets.commands", ticket, ReplyCommand(
                command_id=f"reply-{ticket}", account_id="acme", actor_id=held[ticket],
                at=now, ticket_id=ticket, author_kind="agent", text="Done, anything else?"))
        pipeline.tail("timers").wait_for(lambda rs, todo=todo: set(todo) <= {
            r.ticket_id for r in rs if isinstance(r, CountdownStart)}, timeout_s=240)
        clock.set(now + timedelta(days=2))
        if rounds == 1:
            while_closing()
        # Past the closer's claim lease, so closes claimed by a killed replica go out.
        now += timedelta(days=2, minutes=2)
        clock.set(now)
        pipeline.events.wait_for(lambda rs, todo=todo: set(todo) <= closed(rs),
                                 timeout_s=240, what=f"round {rounds} closed")
        answered |= set(todo)
    assert pipeline.redis.zcard(pipeline.keys.queue("acme")) == 0, "tickets left waiting"
    assert not [c for c in ("sms", "email", "webchat")  # and none left in a channel's queue
                if pipeline.redis.zcard(pipeline.keys.channel_queue("acme", c))]
    results = pipeline.tail("handoff.results").wait_for(
        lambda rs: len({r.handoff_id for r in rs}) >= len(traffic.handoff_ids),
        timeout_s=240)
    letters = pipeline.tail("deadletter").wait_for(
        lambda rs: traffic.bad_keys <= {
            raw.key.decode() for raw in pipeline.tail("deadletter").raw},
        timeout_s=120)
    return Outcome(tickets, results, letters, rounds=rounds)


@dataclass
class Load:
    """What the replay of the events showed of load-aware routing: tickets that waited
    (got their agent from the queue), backlog assignments, the most open tickets an
    automatic assignment left an agent with per channel, and any above capacity."""

    waited: int = 0
    backlog: int = 0
    max_load: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CAPACITY, 0))
    above: list[str] = field(default_factory=list)


def replay_load(events: list[Any], stamps: list[int]) -> Load:
    """Replay ticket.assigned and ticket.status once each (a redelivered record repeats
    its event id), ordered by the clock time they carry, a status change before an
    assignment at the same time (a freed place is taken after it freed), then by record
    create time, counting each agent's open tickets per channel: every automatic
    assignment must leave its agent at or below capacity (manual ones may exceed)."""
    seen: set[str] = set()
    changes: list[tuple[datetime, int, int, Any]] = []
    channel: dict[str, str] = {}
    for r, stamp in zip(events, stamps, strict=True):
        if isinstance(r, TicketCreated):
            channel[r.ticket_id] = r.channel
        elif isinstance(r, TicketAssigned | TicketStatus) and r.event_id not in seen:
            seen.add(r.event_id)
            changes.append((r.at, 0 if isinstance(r, TicketStatus) else 1, stamp, r))
    changes.sort(key=lambda c: c[:3])
    load = Load()
    agent: dict[str, str | None] = {}
    status: dict[str, str] = {}
    open_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    waited: set[str] = set()
    for _, _, _, r in changes:
        t = r.ticket_id
        if t not in channel:
            continue
        key = (agent.get(t) or "", channel[t])
        open_of[key].discard(t)
        if isinstance(r, TicketStatus):
            status[t] = r.status
        else:
            agent[t] = r.agent_id
            if r.method == "backlog" and r.agent_id:
                load.backlog += 1
                waited.add(t)
        if agent.get(t) and status.get(t, "open") == "open":
            key = (agent[t] or "", channel[t])
            open_of[key].add(t)
            if isinstance(r, TicketAssigned) and r.method in AUTOMATIC:
                n = len(open_of[key])
                load.max_load[key[1]] = max(load.max_load[key[1]], n)
                if n > CAPACITY[key[1]]:
                    load.above.append(f"{t} to {key[0]} ({r.method}, {r.at}): {n} open "
                                      f"{key[1]} > {CAPACITY[key[1]]}")
    load.waited = len(waited)
    return load


def check_invariants(outcome: Outcome, traffic: Traffic, zendesk: FakeHelpdesk) -> None:
    """X1 against the inputs: every message in exactly one ticket (one per conversation),
    one automatic assignment per ticket, no double close, one external ticket per handoff,
    every malformed record dead-lettered."""
    events, tickets, message_ids = outcome.events, outcome.tickets, traffic.message_ids
    # every message in exactly one ticket
    ticket_of: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketMessage) and r.message_id in message_ids:
            ticket_of[r.message_id].add(r.ticket_id)
    assert set(ticket_of) == set(message_ids)
    assert all(len(t) == 1 for t in ticket_of.values())
    per_conversation: dict[int, set[str]] = defaultdict(set)
    for message_id, ts in ticket_of.items():
        per_conversation[message_ids[message_id]] |= ts
    assert all(len(t) == 1 for t in per_conversation.values())
    # every ticket's automatic assignment to an agent made once (a waiting ticket's is
    # its backlog one); one that waited with a team showed it once (routed to nobody)
    automatic: dict[str, set[str]] = defaultdict(set)
    queued: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketAssigned) and r.method in AUTOMATIC:
            (automatic if r.agent_id else queued)[r.ticket_id].add(r.event_id)
    assert all(len(automatic[t]) == 1 for t in tickets)
    assert all(len(queued[t]) <= 1 for t in tickets)
    backlog = {r.ticket_id for r in events if isinstance(r, TicketAssigned)
               and r.method == "backlog" and r.agent_id}
    never = sorted({t for t, ids in queued.items() if ids} & tickets - backlog)
    assert not never, f"{len(never)} waiting tickets never assigned from the queue: " + "; ".join(
        f"{t}: " + ", ".join(f"{r.method} {r.agent_id} at {r.at} ({r.event_id})" for r in events
                             if isinstance(r, TicketAssigned) and r.ticket_id == t)
        for t in never[:5])
    # no automatic assignment above capacity, and tickets did wait
    load = replay_load(events, outcome.stamps)
    assert not load.above, "agents above capacity:\n" + "\n".join(load.above[:20])
    assert load.waited > 0 and load.backlog == load.waited
    # no double close
    closes: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketStatus) and r.status == "closed":
            closes[r.ticket_id].add(r.event_id)
    assert all(len(closes[t]) == 1 for t in tickets)
    # no duplicate external ticket
    assert {r.handoff_id for r in outcome.results} == traffic.handoff_ids
    assert all(len(zendesk.tickets_of(h)) == 1 for h in traffic.handoff_ids)
    # every malformed record dead-lettered
    assert all(isinstance(letter, DeadLetter) for letter in outcome.letters)


def counts(outcome: Outcome, traffic: Traffic) -> str:
    """The sizes of a run, the start of its printed summary."""
    load = replay_load(outcome.events, outcome.stamps)
    peaks = ", ".join(f"{c} {load.max_load[c]}/{n}" for c, n in CAPACITY.items())
    return (f"{len(traffic.message_ids)} messages, {len(outcome.tickets)} tickets, "
            f"{len(traffic.handoff_ids)} handoffs, {len(traffic.bad_keys)} malformed; "
            f"capacities: {load.waited} tickets waited, {load.backlog} backlog assignments "
            f"in {outcome.rounds} rounds of closes, max open per agent vs capacity {peaks}")
