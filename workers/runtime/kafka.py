"""aiokafka clients configured the one way every worker needs them."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.transaction import InitProducerIdRequest
from aiokafka.util import INTEGER_MAX_VALUE

from workers.runtime.settings import Settings

log = logging.getLogger(__name__)


def group_timeouts(settings: Settings) -> dict[str, int]:
    """Consumer-group timeouts; `dev` keeps tansu's group joins at about 3 s."""
    if settings.profile == "dev":
        return {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                "max_poll_interval_ms": 5000, "rebalance_timeout_ms": 3000}
    return {"session_timeout_ms": 30000, "heartbeat_interval_ms": 3000,
            "max_poll_interval_ms": 300000, "rebalance_timeout_ms": 60000}


async def grants_producer_ids(bootstrap: str, timeout_s: float = 30.0) -> bool:
    """Whether the broker gives an idempotent producer its producer id: the very request
    (InitProducerId, at the version aiokafka sends) that an idempotent AIOKafkaProducer
    starts with. Apache Kafka grants it; tansu advertises the API but answers this
    version with an unknown error. Retriable errors (a broker still starting) are retried
    until the bound; the broker being unreachable raises, as starting a producer would."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="ticketflow-probe")
    await client.bootstrap()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            response = await client.send(client.get_random_node(), InitProducerIdRequest(
                transactional_id=None, transaction_timeout_ms=INTEGER_MAX_VALUE))
            error = kafka_errors.for_code(response.error_code)
            if error is kafka_errors.NoError:
                return True
            if not error.retriable or time.monotonic() > deadline:
                log.info("broker %s gives no producer id (%s)", bootstrap, error.__name__)
                return False
            await asyncio.sleep(0.1)
    finally:
        await client.close()


@functools.cache
def idempotence_supported(bootstrap: str) -> bool:
    """`grants_producer_ids`, asked once per process and broker address. Runs in a thread
    of its own, so it works from a running event loop too (one round trip, at start)."""
    with ThreadPoolExecutor(1) as pool:
        supported = pool.submit(asyncio.run, grants_producer_ids(bootstrap)).result()
    log.info("idempotent producer %s on %s", "on" if supported else "off", bootstrap)
    return supported


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica's ack, idempotent where the broker
    grants producer ids (detected once per process: Apache Kafka does, tansu does not), so
    a retried batch is not written twice. Every consumer of our events still deduplicates
    by `event_id`: a replica that crashes and redoes a batch is a new producer."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "linger_ms": 2,
        "max_batch_size": 262144,
        "client_id": f"{settings.group_prefix}-producer",
    }
    options.update(overrides)
    if "enable_idempotence" not in options:
        options["enable_idempotence"] = idempotence_supported(settings.kafka_bootstrap)
    return AIOKafkaProducer(**options)


def make_blocking_producer(settings: Settings) -> Any:
    """The blocking (kafka-python) producer of the command line: one record at a time,
    acked by every in-sync replica, idempotent where the broker grants producer ids, as
    the workers' producers are."""
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                         enable_idempotence=idempotence_supported(settings.kafka_bootstrap))


def make_group_consumer(settings: Settings, worker: str, topics: list[str],
                        **overrides: Any) -> AIOKafkaConsumer:
    """A consumer in the worker kind's group that commits only when told to."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": settings.group(worker),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 1048576,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "client_id": f"{settings.group_prefix}-{worker}",
        **group_timeouts(settings),
    }
    options.update(overrides)
    return AIOKafkaConsumer(*[settings.topic(t) for t in topics], **options)


def make_reader(settings: Settings) -> AIOKafkaConsumer:
    """A group-less consumer for topics every replica reads whole (accounts.config)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )


async def partitions_of(reader: AIOKafkaConsumer, topic: str,
                        timeout_s: float = 30.0) -> list[TopicPartition]:
    """Every partition of an existing topic, for a group-less reader to assign. The reader's
    start-up metadata request names no topic, which Apache Kafka answers with none (tansu
    with all), and `topics()` fills a copy that `partitions_for_topic` does not read: so
    the reader's own metadata is refreshed until it names the topic."""
    deadline = time.monotonic() + timeout_s
    partitions = reader.partitions_for_topic(topic)
    while not partitions:
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} is not in the broker's metadata "
                               f"within {timeout_s}s")
        await reader._client.force_metadata_update()
        partitions = reader.partitions_for_topic(topic)
        if not partitions:
            await asyncio.sleep(0.1)
    return [TopicPartition(topic, p) for p in sorted(partitions)]
