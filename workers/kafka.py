"""aiokafka clients configured the one way every worker needs them."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from workers.settings import Settings


def group_timeouts(settings: Settings) -> dict[str, int]:
    """Consumer-group timeouts; `dev` keeps tansu's group joins at about 3 s."""
    if settings.profile == "dev":
        return {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                "max_poll_interval_ms": 5000, "rebalance_timeout_ms": 3000}
    return {"session_timeout_ms": 30000, "heartbeat_interval_ms": 3000,
            "max_poll_interval_ms": 300000, "rebalance_timeout_ms": 60000}


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A producer that waits for the broker's ack; idempotence off because tansu refuses it,
    so every consumer of our events deduplicates by `event_id` instead."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 2,
        "max_batch_size": 262144,
        "client_id": f"{settings.group_prefix}-producer",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


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
