"""The embedded Apache Kafka's pure parts: the pinned version, each node's settings, and
how many copies our topics get."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.embedded import kafka_settings, kafka_version, make_broker, new_cluster_id
from workers.runtime.topics import replication_factor, topic_configs


def test_the_pinned_version_is_a_kafka_4_release() -> None:
    major, minor, patch = (int(p) for p in kafka_version().split("."))
    assert major == 4 and minor >= 0 and patch >= 0


def test_a_single_node_replicates_nothing_and_waits_for_no_one() -> None:
    one = kafka_settings(1, 9092, 9093, "1@127.0.0.1:9093", Path("/tmp/d"), nodes=1)
    assert one["process.roles"] == "broker,controller"
    assert one["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert one["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert (one["offsets.topic.replication.factor"], one["min.insync.replicas"]) == ("1", "1")
    assert one["group.initial.rebalance.delay.ms"] == "0"
    assert one["auto.create.topics.enable"] == "false"


def test_three_nodes_keep_three_copies_and_need_two_in_sync() -> None:
    voters = ",".join(f"{i}@127.0.0.1:{9100 + i}" for i in (1, 2, 3))
    node = kafka_settings(2, 9002, 9102, voters, Path("/tmp/d"), nodes=3)
    assert node["node.id"] == "2" and node["controller.quorum.voters"] == voters
    assert node["offsets.topic.replication.factor"] == "3"
    assert node["transaction.state.log.replication.factor"] == "3"
    assert (node["min.insync.replicas"], node["transaction.state.log.min.isr"]) == ("2", "2")


def test_topics_get_one_copy_per_broker_up_to_three() -> None:
    assert [replication_factor(n) for n in (1, 2, 3, 5)] == [1, 2, 3, 3]
    assert topic_configs("accounts.config", 1) == {"cleanup.policy": "compact"}
    assert topic_configs("tickets.events", 1) == {}
    assert topic_configs("tickets.events", 3) == {"min.insync.replicas": "2"}


def test_tansu_is_a_single_broker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="single broker"):
        make_broker("tansu", tmp_path, nodes=3)
    with pytest.raises(ValueError, match="unknown broker"):
        make_broker("redpanda", tmp_path)


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    """kafka-storage reads `--cluster-id -x...` as a missing value: one start in 64 failed
    to format. As Kafka's own Uuid.randomUuid does, an id starting with '-' is drawn again."""
    draws = iter([bytes([0xF8]) + bytes(15), bytes([0x10]) + bytes(15)])  # '-' first, then 'E'
    cluster_id = new_cluster_id(lambda: next(draws))
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
    assert len(new_cluster_id()) == 22 and not new_cluster_id().startswith("-")
