"""A replica that loses a partition stops reporting that partition's lag (X4): the new owner
reports it, and a stale value would show on the dashboard forever."""

from __future__ import annotations

from aiokafka import TopicPartition

from workers.runtime.consumer import _Assignments
from workers.runtime.metrics import CONSUMER_LAG, REGISTRY


def _lag(topic: str, partition: str) -> float | None:
    return REGISTRY.get_sample_value("ticketflow_consumer_lag", {
        "worker": "router", "topic": topic, "partition": partition})


async def test_revoked_partitions_drop_their_lag_and_the_others_keep_it() -> None:
    CONSUMER_LAG.labels("router", "tickets.events", "0").set(7)
    CONSUMER_LAG.labels("router", "tickets.events", "1").set(3)
    listener = _Assignments("router", {"tf.tickets.events": "tickets.events"})
    await listener.on_partitions_revoked({TopicPartition("tf.tickets.events", 0),
                                          TopicPartition("tf.tickets.events", 5)})
    assert _lag("tickets.events", "0") is None
    assert _lag("tickets.events", "1") == 3
