"""The consume loop on a real broker: a record whose events the broker refuses (too large
to publish) becomes a dead letter with the reason; the records around it are published,
the partition goes on, and the worker does not crash (I1)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from schemas.events import DeadLetter, TicketMessage
from tests.messages import sms
from tests.pipeline import Pipeline
from workers.runtime.consumer import ConsumerLoop
from workers.runtime.ids import event_id
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.settings import Settings

pytestmark = pytest.mark.e2e


class EchoHandler:
    """Publishes each SMS as a ticket.message; the body "huge" makes a 2 MB event."""

    worker = "echo"
    topics = ("inbound.sms",)

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        out = []
        for item in batch:
            m = item.value
            text = "x" * 2_000_000 if m.body == "huge" else m.body
            out.append(Outgoing("tickets.events", m.account_id, TicketMessage(
                event_id=event_id("echo", m.message_id), account_id=m.account_id,
                ticket_id="t-echo", message_id=m.message_id, direction="inbound",
                author_kind="customer", author_id=None, text=text, at=m.received_at)))
        return out


async def test_an_event_too_large_to_publish_dead_letters_its_record_only(
        settings: Settings, pipeline: Pipeline) -> None:
    loop = ConsumerLoop(settings, EchoHandler())
    running = asyncio.create_task(loop.run())
    records = [sms(message_id="before", body="one"), sms(message_id="big", body="huge"),
               sms(message_id="after", body="two")]
    for m in records:
        pipeline.publish("inbound.sms", m.from_number, m, partition=0)
    try:
        events = await asyncio.to_thread(
            pipeline.events.wait_for,
            lambda rs: {"before", "after"} <= {r.message_id for r in rs},
            what="the records around the large one published")
        letters = await asyncio.to_thread(
            pipeline.tail("deadletter").wait_for, lambda rs: len(rs) >= 1,
            what="the large one dead-lettered")
    finally:
        loop.stop()
        await asyncio.wait_for(running, 30)
    assert "big" not in {r.message_id for r in events}
    [letter] = letters
    assert isinstance(letter, DeadLetter) and letter.offset == 1
    assert "its events cannot be published" in letter.reason
    assert "MessageSizeTooLarge" in letter.reason


    # Read again from the start (a group that never committed, as after a lost commit):
    # the dead letter is the same record, byte for byte, not one with a new time.
    again = ConsumerLoop(msgspec.structs.replace(settings, group_prefix=settings.group_prefix
                                                 + "-again"), EchoHandler())
    running = asyncio.create_task(again.run())
    try:
        await asyncio.to_thread(pipeline.tail("deadletter").wait_for, lambda rs: len(rs) >= 2,
                                what="the large one dead-lettered again")
    finally:
        again.stop()
        await asyncio.wait_for(running, 30)
    first, second = pipeline.tail("deadletter").raw[:2]
    assert first.value == second.value
    # Both loops stopped in time: their shutdown deadlines (which end the process with
    # os._exit when a stop hangs) are cancelled, or they would end this test run.
    assert loop._deadline is not None and loop._deadline.cancelled()
    assert again._deadline is not None and again._deadline.cancelled()


class SlowFirstBatch(EchoHandler):
    """Takes longer than the group's max poll interval over its first batch, as a batch
    whose publish waits out a broker failover does."""

    worker = "slow"

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.batches = 0

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        self.batches += 1
        if self.batches == 1:
            await asyncio.sleep(self.hold_s)  # the stall under test, not a synchronisation
        return await super().handle(batch)


async def test_a_batch_that_outlasts_the_max_poll_interval_does_not_stop_the_replica(
        settings: Settings, pipeline: Pipeline) -> None:
    """The group evicts a member that has not polled within max.poll.interval.ms; the
    replica joins again and goes on (its batch is redelivered, which the dedup marks make
    harmless) instead of dying on the client's failed group coordination."""
    assert settings.profile == "dev"  # a 5 s max poll interval
    handler = SlowFirstBatch(hold_s=8.0)
    loop = ConsumerLoop(settings, handler)
    running = asyncio.create_task(loop.run())
    try:
        pipeline.publish("inbound.sms", "+1", sms(message_id="first", body="one"), partition=0)
        await asyncio.to_thread(pipeline.events.wait_for,
                                lambda rs: "first" in {r.message_id for r in rs}, timeout_s=60,
                                what="the stalled batch published")
        pipeline.publish("inbound.sms", "+1", sms(message_id="later", body="two"), partition=0)
        await asyncio.to_thread(pipeline.events.wait_for,
                                lambda rs: "later" in {r.message_id for r in rs}, timeout_s=60,
                                what="a record after the stall published")
        assert not running.done(), running
    finally:
        loop.stop()
        await asyncio.wait_for(running, 30)
