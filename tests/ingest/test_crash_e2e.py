"""X1 for ingest: SIGKILL mid-stream loses nothing and creates no ticket twice; SIGTERM
drains and commits."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.events import TicketCreated, TicketMessage
from tests.messages import at, chat, email, sms
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def conversation_stream(customers: int, per_customer: int) -> tuple[list[tuple[str, str, bytes]],
                                                                    dict[str, str]]:
    """Records from `customers` customers over three channels, each thread `per_customer`
    messages long; returns the records and message id -> conversation it belongs to."""
    records: list[tuple[str, str, bytes]] = []
    thread_of: dict[str, str] = {}
    for turn in range(per_customer):
        for c in range(customers):
            conversation = f"c{c}"
            when = at(turn * 60 + c)
            if c % 3 == 0:
                m = sms(message_id=f"SM-{c}-{turn}", from_number=f"+1555{c:07d}",
                        received_at=when)
                records.append(("inbound.sms", m.from_number, encode(m)))
            elif c % 3 == 1:
                first = f"<{c}-0@mail.example>"
                m = email(message_id=f"<{c}-{turn}@mail.example>",
                          from_email=f"c{c}@example.com", received_at=when,
                          in_reply_to=first if turn else None)
                records.append(("inbound.email", m.from_email, encode(m)))
            else:
                m = chat(message_id=f"wc-{c}-{turn}", session_id=f"s-{c}", sent_at=when)
                records.append(("inbound.webchat", m.session_id, encode(m)))
            thread_of[m.message_id] = conversation
    return records, thread_of


def test_sigkill_mid_stream_loses_nothing_and_creates_nothing_twice(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    customers, per_customer = 300, 10
    records, thread_of = conversation_stream(customers, per_customer)
    # Paced over ~3 s, so the kill at a third lands while the rest is still arriving.
    producer = threading.Thread(target=pipeline.publish_many, args=(records, 1000.0))
    producer.start()
    pipeline.events.wait_for(
        lambda rs: sum(isinstance(r, TicketMessage) for r in rs) >= len(records) // 3,
        what="a third of the stream threaded")
    ingest.sigkill()
    seen_before_kill = len({r.message_id for r in pipeline.events.of_type(TicketMessage)})
    assert seen_before_kill < len(records), "the kill must land mid-stream"
    ingest.start_ready()
    producer.join()
    pipeline.events.wait_for(
        lambda rs: len({r.message_id for r in rs if isinstance(r, TicketMessage)})
        >= len(records), timeout_s=120, what="every message threaded")
    events = pipeline.events.drain()

    tickets_of_message: dict[str, set[str]] = defaultdict(set)
    for m in (r for r in events if isinstance(r, TicketMessage)):
        tickets_of_message[m.message_id].add(m.ticket_id)
    # every message in exactly one ticket
    assert set(tickets_of_message) == set(thread_of)
    assert all(len(t) == 1 for t in tickets_of_message.values())
    # one ticket per conversation, and one conversation per ticket
    ticket_of_conversation: dict[str, set[str]] = defaultdict(set)
    for message_id, tickets in tickets_of_message.items():
        ticket_of_conversation[thread_of[message_id]] |= tickets
    assert len(ticket_of_conversation) == customers
    assert all(len(t) == 1 for t in ticket_of_conversation.values())
    # no ticket created twice: one creation event id per ticket, numbers 1..N with no gap
    created = [r for r in events if isinstance(r, TicketCreated)]
    creations: dict[str, set[str]] = defaultdict(set)
    for c in created:
        creations[c.ticket_id].add(c.event_id)
    assert len(creations) == customers
    assert all(len(ids) == 1 for ids in creations.values())
    assert sorted({c.number for c in created}) == list(range(1, customers + 1))
    assert pipeline.redis.get(pipeline.keys.seq("acme")) == str(customers)
    counts = [int(pipeline.ticket(t)["message_count"]) for t in creations]
    assert counts == [per_customer] * customers


def test_sigterm_drains_commits_and_exits_cleanly(pipeline: Pipeline,
                                                 ingest: WorkerProcess) -> None:
    records, thread_of = conversation_stream(300, 10)
    producer = threading.Thread(target=pipeline.publish_many, args=(records, 1000.0))
    producer.start()
    pipeline.events.wait_for(lambda rs: sum(isinstance(r, TicketMessage) for r in rs) >= 300)
    assert ingest.sigterm() == 0
    assert any("stopping: drained and committed" in line for line in ingest.lines)
    done = {r.message_id for r in pipeline.events.drain() if isinstance(r, TicketMessage)}
    assert len(done) < len(records), "SIGTERM must land mid-stream"
    # A new replica resumes from the committed offsets: nothing done before is redone.
    ingest.start_ready()
    producer.join()
    pipeline.events.wait_for(
        lambda rs: {r.message_id for r in rs if isinstance(r, TicketMessage)} >= set(thread_of),
        timeout_s=120, what="the rest threaded after restart")
    messages = [r for r in pipeline.events.drain() if isinstance(r, TicketMessage)]
    republished = len(messages) - len({m.message_id for m in messages})
    assert republished == 0, f"{republished} messages re-published after a clean stop"
