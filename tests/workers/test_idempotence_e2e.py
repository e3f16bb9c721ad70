"""The idempotent producer where the broker grants producer ids, detected, not configured:
the detection agrees with what an idempotent producer meets on the suite's broker, and the
workers' records carry a producer id wherever it said yes."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from harness.processes import WorkerProcess
from schemas.events import TicketMessage
from tests.messages import sms
from tests.pipeline import Pipeline
from workers.runtime.kafka import idempotence_supported, make_producer
from workers.runtime.settings import Settings

pytestmark = pytest.mark.e2e


async def idempotent_send_works(settings: Settings) -> bool:
    """Send one record with an idempotent producer, configured by hand."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_idempotence=True, request_timeout_ms=5000)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(
            settings.topic("deadletter"), b"probe", key=b"probe"), 20)
        return True
    except Exception:  # tansu: UnknownError from InitProducerId, raised by the send
        return False
    finally:
        await producer.stop()


async def test_detection_matches_what_an_idempotent_producer_meets(settings: Settings) -> None:
    supported = idempotence_supported(settings.kafka_bootstrap)  # from a running loop too
    assert await idempotent_send_works(settings) is supported
    assert await is_idempotent(make_producer(settings)) is supported
    # An override still wins, for a caller that must not depend on it.
    assert await is_idempotent(make_producer(settings, enable_idempotence=False)) is False


async def is_idempotent(producer: AIOKafkaProducer) -> bool:
    """Whether aiokafka set the producer up to ask for a producer id (never started)."""
    idempotent = producer._txn_manager is not None  # type: ignore[attr-defined]
    await producer.stop()
    return idempotent


def test_worker_events_carry_a_producer_id_where_granted(pipeline: Pipeline,
                                                         ingest: WorkerProcess) -> None:
    supported = idempotence_supported(pipeline.settings.kafka_bootstrap)
    line = ingest.wait_for_log(r"idempotent producer (on|off)")
    assert ("producer on" in line) is supported, line
    message = sms(from_number="+15550009001")
    pipeline.publish("inbound.sms", message.from_number, message)
    events = pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.message_id == message.message_id for r in rs),
        timeout_s=30, what="the message threaded")
    if not supported:
        return  # tansu: no producer state to describe (DescribeProducers is not served)
    [raw] = [record for record, event in zip(pipeline.events.raw, events, strict=True)
             if isinstance(event, TicketMessage) and event.message_id == message.message_id]
    admin = KafkaAdminClient(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    try:
        tp = TopicPartition(raw.topic, raw.partition)
        state = admin.describe_producers([tp])[tp]
    finally:
        admin.close()
    assert state.active_producers, f"no producer id on {tp}: {state}"
