"""Topic partition counts and their creation on a broker."""

from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.codec import TOPICS
from workers.runtime.settings import Settings

log = logging.getLogger(__name__)

# Partitions bound how many replicas of a worker kind share the work. accounts.config has
# one partition: every replica reads all of it anyway, and one partition keeps versions in order.
DEFAULT_PARTITIONS = 8


def partition_counts(per_topic: int = DEFAULT_PARTITIONS) -> dict[str, int]:
    """Partitions of every topic when the worker topics get `per_topic` each."""
    counts = {name: per_topic for name in TOPICS}
    counts.update({"accounts.config": 1, "deadletter": min(2, per_topic)})
    return counts


PARTITIONS = partition_counts()
COMPACTED = frozenset({"accounts.config"})


def replication_factor(brokers: int) -> int:
    """Copies of each partition: one per broker, at most 3 (with the brokers'
    min.insync.replicas of 2 and acks=all, one broker may be lost without losing a write)."""
    return max(1, min(3, brokers))


def topic_configs(name: str, replication: int) -> dict[str, str]:
    """Configs a topic is created with: accounts.config keeps the newest record of each
    key (compaction); with 3 copies, a write acked by all needs 2 of them in sync."""
    configs = {"cleanup.policy": "compact"} if name in COMPACTED else {}
    if replication >= 3:
        configs["min.insync.replicas"] = "2"
    return configs


def ensure_topics(settings: Settings, partitions: dict[str, int] | None = None,
                  timeout_s: float = 30.0) -> None:
    """Create every ticketflow topic that does not exist yet (idempotent)."""
    wanted = partitions or PARTITIONS
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                     client_id="ticketflow-admin")
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker {settings.kafka_bootstrap} unreachable: {exc}") from exc
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        replication = replication_factor(len(admin.describe_cluster()["brokers"]))
        new = [
            NewTopic(settings.topic(name), count, replication,
                     topic_configs=topic_configs(name, replication))
            for name, count in wanted.items()
            if settings.topic(name) not in existing
        ]
        for topic in new:
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
        if new:
            _wait_for_leaders(admin, [t.name for t in new], deadline)
            log.info("created %d topics with prefix %r", len(new), settings.topic_prefix)
    finally:
        admin.close()


def _wait_for_leaders(admin: KafkaAdminClient, names: list[str], deadline: float) -> None:
    """Until the broker's metadata shows every partition of these topics with a leader:
    Apache Kafka acks a creation once its controller has it, and a client asking right then
    may be told the topic does not exist yet."""
    while True:
        described = admin.describe_topics(names)
        pending = sorted(t["name"] for t in described if t["error_code"] != 0
                         or not t["partitions"]
                         or any(p["leader_id"] < 0 for p in t["partitions"]))
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics created but without leaders: {', '.join(pending)}")
        time.sleep(0.02)
