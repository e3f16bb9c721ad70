"""H6, X1: the Redis claim of a handoff. Handoff ids are free text, so no id can name
another handoff's keys; and one handoff's lookup-then-create runs at most once at a time,
also when a failure elsewhere in its batch makes the loop run the batch again."""

from __future__ import annotations

import time

import pytest

from harness.processes import WorkerProcess
from schemas.config import AccountDocument
from tests.handoff.conftest import (
    Spawn,
    configure,
    gorgias_config,
    request,
    result_of,
    send,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def test_a_handoff_id_that_spells_another_handoffs_lease_key_breaks_nothing(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    configure(pipeline, acme, method="message", message="We will write to you.")
    spawn()
    # One conversation, so both are handled in this order: `h-x:lease` leaves its outcome
    # where `h-x` once kept its lease.
    first = request(handoff_id="h-x:lease", conversation_id="s-x")
    second = request(handoff_id="h-x", conversation_id="s-x")
    send(pipeline, first)
    send(pipeline, second)
    assert result_of(pipeline, first.handoff_id).status == "message_sent"
    assert result_of(pipeline, second.handoff_id).status == "message_sent"
    assert not pipeline.tail("deadletter").drain()


def wait_until(condition: object, timeout_s: float, what: str) -> None:
    """Poll an observable condition (a fake's request log, a worker's log) to a deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not seen within {timeout_s}s"
        time.sleep(0.01)


def test_a_batch_run_again_never_overlaps_a_gorgias_call_still_in_flight(
        pipeline: Pipeline, acme: AccountDocument, gorgias: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **gorgias_config(gorgias))
    # Two conversations in one batch. A fails in Redis once its ticket is made (its
    # conversation-end key holds a hash, so the finish step gets WRONGTYPE), while B's
    # create call is still held by Gorgias; the loop then runs the batch again, record by
    # record (a transient error would run it again whole: the same for B).
    a = request(conversation_id="s-a")
    b = request(conversation_id="s-b")
    pipeline.redis.hset(pipeline.keys.conversation_end("acme", "s-a"), "broken", "1")
    gorgias.behave(a.handoff_id, ["hold"])
    gorgias.behave(b.handoff_id, ["hold"])
    worker: WorkerProcess = spawn(TICKETFLOW_HANDOFF_HTTP_TIMEOUT_S="4")
    for req in (a, b):  # one partition, one flush: one batch
        pipeline.producer.send(pipeline.settings.topic("handoff.requests"),
                               _encoded(req), key=req.conversation_id.encode(), partition=0)
    pipeline.producer.flush()
    assert gorgias.arrived(a.handoff_id).wait(30) and gorgias.arrived(b.handoff_id).wait(30)
    since = len(worker.lines)
    gorgias.release(a.handoff_id)
    worker.wait_for_log(r"retrying record by record|retrying in", since=since)
    # B runs again now: either it joins the call in flight, or (the defect) it starts its
    # own lookup while Gorgias still works on the first create.
    wait_until(lambda: len(gorgias.lookups_of(b.handoff_id)) > 1 or any(
        "already in progress in this replica" in line for line in worker.lines[since:]),
        timeout_s=10, what="B handled again")
    gorgias.release(b.handoff_id)
    result = result_of(pipeline, b.handoff_id)
    assert result.status == "created"
    assert gorgias.max_in_flight(b.handoff_id) == 1
    assert len(gorgias.creates_of(b.handoff_id)) == 1
    [ticket] = gorgias.tickets_of(b.handoff_id)
    assert result.external_ticket_id == str(ticket.id)


def _encoded(req: object) -> bytes:
    from schemas.codec import encode

    return encode(req)  # type: ignore[arg-type]
