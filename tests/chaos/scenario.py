"""What the fault runs share: the traffic they send through all four worker kinds, the
follow-through that answers and closes every ticket, the invariants checked against the
inputs, and the counts printed. The chaos run kills replicas and Redis; the broker-fault
run kills Kafka nodes; both are judged the same way."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from harness.processes import WorkerProcess
from schemas.agent_app import Presence, ReplyCommand
from schemas.codec import encode
from schemas.config import AccountDocument, AgentConfig, AutoClose, HandoffSettings
from schemas.events import DeadLetter, TicketAssigned, TicketMessage, TicketStatus
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

Record = tuple[str, str, bytes]


def account(fake: FakeHelpdesk) -> AccountDocument:
    return AccountDocument(
        account_id="acme", version=1, round_robin=True,
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@acme.example",
                            role="support", notify=["in_app"]) for i in range(AGENTS)],
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
    (once the replicas have stopped) every event."""

    tickets: set[str]
    results: list[Any]
    letters: list[Any]
    events: list[Any] = field(default_factory=list)


def follow_through(pipeline: Pipeline, clock: ClockControl, traffic: Traffic,
                   while_closing: Callable[[], None] = lambda: None) -> Outcome:
    """After the traffic: wait until every message is threaded and every ticket assigned,
    answer every ticket as an agent, move the clock two days on so that all of them
    auto-close, and wait for the handoff results and the dead letters. `while_closing`
    runs once the closes are due, before the clock passes the closer's claim lease."""
    message_ids = traffic.message_ids

    def threaded(rs: list[Any]) -> bool:
        return len({r.message_id for r in rs if isinstance(r, TicketMessage)
                    and r.message_id in message_ids}) == len(message_ids)
    events = pipeline.events.wait_for(threaded, timeout_s=240, what="all threaded")
    tickets = {r.ticket_id for r in events if isinstance(r, TicketMessage)
               and r.message_id in message_ids}
    pipeline.events.wait_for(lambda rs: tickets <= {
        r.ticket_id for r in rs if isinstance(r, TicketAssigned) and r.agent_id},
        timeout_s=240, what="all assigned")

    # An agent answers every ticket: the countdowns start; two days later all close.
    for n, ticket in enumerate(sorted(tickets)):
        pipeline.publish("tickets.commands", ticket, ReplyCommand(
            command_id=f"reply-{n}", account_id="acme", actor_id="a0", at=T0,
            ticket_id=ticket, author_kind="agent", text="Done, anything else?"))
    pipeline.tail("timers").wait_for(lambda rs: tickets <= {
        r.ticket_id for r in rs if isinstance(r, CountdownStart)}, timeout_s=240)
    clock.set(T0 + timedelta(days=2))
    while_closing()
    # Past the closer's claim lease, so closes claimed by a killed replica go out.
    clock.set(T0 + timedelta(days=2, minutes=2))
    pipeline.events.wait_for(lambda rs: tickets <= {
        r.ticket_id for r in rs if isinstance(r, TicketStatus) and r.status == "closed"},
        timeout_s=240, what="all closed")
    results = pipeline.tail("handoff.results").wait_for(
        lambda rs: len({r.handoff_id for r in rs}) >= len(traffic.handoff_ids),
        timeout_s=240)
    letters = pipeline.tail("deadletter").wait_for(
        lambda rs: traffic.bad_keys <= {
            raw.key.decode() for raw in pipeline.tail("deadletter").raw},
        timeout_s=120)
    return Outcome(tickets, results, letters)


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
    # every ticket's automatic assignment made once
    automatic: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketAssigned) and r.method in AUTOMATIC:
            automatic[r.ticket_id].add(r.event_id)
    assert all(len(automatic[t]) == 1 for t in tickets)
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
    return (f"{len(traffic.message_ids)} messages, {len(outcome.tickets)} tickets, "
            f"{len(traffic.handoff_ids)} handoffs, {len(traffic.bad_keys)} malformed")
