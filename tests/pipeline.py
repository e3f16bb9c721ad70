"""Test side of a real pipeline: publish raw records, read output topics, look at Redis.

Waiting is always for an observable event (a record on a topic, a log line), with a
deadline; never a fixed sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas.codec import decode, encode
from workers.runtime.settings import Settings
from workers.state.keys import Keys


def sync_redis(url: str) -> Any:
    """A test-side Redis client for a plain server or (`redis+cluster://`) a cluster."""
    if url.startswith("redis+cluster://"):
        return redis.RedisCluster.from_url("redis://" + url[len("redis+cluster://"):],
                                           decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True)


class Tail:
    """Every record of one output topic since its beginning, decoded."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.name = settings.topic(topic)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                      group_id=None, enable_auto_commit=False,
                                      auto_offset_reset="earliest")
        partitions = self.consumer.partitions_for_topic(self.name)
        assert partitions, f"topic {self.name} does not exist"
        self.tps = [TopicPartition(self.name, p) for p in sorted(partitions)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)
        self.records: list[Any] = []
        self.raw: list[Any] = []

    def poll(self, timeout_ms: int = 200) -> None:
        for records in self.consumer.poll(timeout_ms=timeout_ms, max_records=5000).values():
            for record in records:
                self.raw.append(record)
                self.records.append(decode(self.topic, record.value))

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout_s: float = 60.0,
                 what: str = "condition") -> list[Any]:
        """Read until `predicate(records)` holds; fail with what was seen at the deadline."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: {what} not met within {timeout_s}s; "
                                     f"{len(self.records)} records seen: {self.records[-5:]}")
            self.poll()
        return self.records

    def drain(self) -> list[Any]:
        """Read up to the high watermark every partition had when called."""
        self.poll(0)
        while any(self.consumer.highwater(tp) is None
                  or self.consumer.position(tp) < self.consumer.highwater(tp)
                  for tp in self.tps):
            self.poll()
        return self.records

    def of_type(self, kind: type) -> list[Any]:
        return [r for r in self.records if isinstance(r, kind)]

    def close(self) -> None:
        self.consumer.close()


class Pipeline:
    """Publish inputs to, and read outputs from, one test's topics and Redis keys."""

    def __init__(self, settings: Settings, idempotent: bool = False) -> None:
        """`idempotent`: the inputs producer keeps its records in order and unrepeated
        through broker failovers (Apache Kafka only; tansu refuses it)."""
        self.settings = settings
        self.producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                      enable_idempotence=idempotent, linger_ms=2,
                                      max_request_size=4_194_304)
        self.redis = sync_redis(settings.redis_url)
        self._tails: dict[str, Tail] = {}

    def tail(self, topic: str) -> Tail:
        """The (shared) reader of an output topic."""
        if topic not in self._tails:
            self._tails[topic] = Tail(self.settings, topic)
        return self._tails[topic]

    @property
    def events(self) -> Tail:
        return self.tail("tickets.events")

    def publish_raw(self, topic: str, key: str, value: bytes | None,
                    partition: int | None = None) -> None:
        """Publish bytes as a provider would, and wait for the broker's ack."""
        self.producer.send(self.settings.topic(topic), value, key=key.encode(),
                           partition=partition).get(timeout=30)

    def publish(self, topic: str, key: str, value: msgspec.Struct,
                partition: int | None = None) -> None:
        self.publish_raw(topic, key, encode(value), partition)

    def publish_many(self, records: Iterable[tuple[str, str, bytes]],
                     rate: float | None = None) -> None:
        """Publish records in order, flat out or paced at `rate` per second; `records` may
        be a generator that decides as it goes how long the traffic lasts."""
        started = time.monotonic()
        futures = []
        for i, (t, k, v) in enumerate(records):
            if rate is not None and (ahead := started + i / rate - time.monotonic()) > 0.005:
                time.sleep(ahead)  # pacing a producer, not waiting for a result
            futures.append(self.producer.send(self.settings.topic(t), v, key=k.encode()))
        self.producer.flush()
        for future in futures:
            future.get(timeout=30)

    @property
    def keys(self) -> Keys:
        """The pipeline's Redis keys (each test pipeline has a prefix of its own)."""
        return Keys.of(self.settings)

    def base(self, account_id: str = "acme") -> str:
        return self.keys.account(account_id)

    def ticket(self, ticket_id: str, account_id: str = "acme") -> dict[str, str]:
        """The ticket hash as stored (raw: tests check what the scripts wrote)."""
        return self.redis.hgetall(self.keys.ticket(account_id, ticket_id))

    def close(self) -> None:
        for tail in self._tails.values():
            tail.close()
        self.producer.close()
        self.redis.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
