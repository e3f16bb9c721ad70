"""Settings come from the environment only (X3)."""

from __future__ import annotations

import pytest

from workers.runtime.settings import Settings


def test_defaults_and_overrides() -> None:
    assert Settings.from_env({}).redis_prefix == "tf"
    s = Settings.from_env({"TICKETFLOW_KAFKA": "kafka://k1:9092,k2:9092",
                           "TICKETFLOW_REDIS": "redis://r:6380/1",
                           "TICKETFLOW_TOPIC_PREFIX": "prod.",
                           "TICKETFLOW_BATCH_SIZE": "100"})
    assert s.kafka_bootstrap == "k1:9092,k2:9092" and s.redis_url == "redis://r:6380/1"
    assert s.topic("inbound.sms") == "prod.inbound.sms" and s.batch_size == 100


def test_child_processes_see_the_same_settings() -> None:
    s = Settings(kafka_bootstrap="h:1", topic_prefix="x.", profile="dev", http_port=9000)
    assert Settings.from_env(s.to_env()) == s


def test_invalid_values_stop_the_process_with_the_variable_named() -> None:
    with pytest.raises(SystemExit, match="batch_size"):
        Settings.from_env({"TICKETFLOW_BATCH_SIZE": "lots"})
