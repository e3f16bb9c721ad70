"""The chaos run gets a broker of its own.

After the rest of the suite, the session's tansu holds thousands of partitions and every
record earlier tests wrote; twelve replicas rejoining their groups every two seconds on
top of that measured the broker, not ticketflow. A fresh broker (one second to start)
makes the run the same whatever ran before it. On Apache Kafka
(TICKETFLOW_TEST_BROKER=kafka) the fresh broker is a Kafka node too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from harness.embedded import make_broker
from tests.conftest import test_broker
from tests.handoff.conftest import ZENDESK_SECRET
from tests.handoff.fakes import FakeHelpdesk
from workers.runtime.settings import Settings
from workers.runtime.topics import ensure_topics


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    if os.environ.get("TICKETFLOW_KAFKA"):  # a real broker given from outside: use it
        yield settings
        return
    broker = make_broker(test_broker(), tmp_path)  # of the kind the suite runs on
    broker.start()
    try:
        own = msgspec.structs.replace(settings, kafka_bootstrap=broker.bootstrap)
        ensure_topics(own)
        yield own
    finally:
        broker.stop()


@pytest.fixture
def zendesk() -> Iterator[FakeHelpdesk]:
    """The helpdesk the fault runs hand off to: it counts the tickets of each handoff."""
    fake = FakeHelpdesk("zendesk", token=ZENDESK_SECRET).start()
    yield fake
    fake.stop()
