"""`accounts.config` under Apache Kafka's log compaction (A4): compaction keeps only the last
record of each key, so a replica that starts after it must still get the newest valid
document of every account, and neither an older version nor an invalid document published
after a newer one, nor a tombstone followed by a newer document, may win over it."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.config import AccountDocument
from tests.conftest import test_broker
from tests.pipeline import Pipeline
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(test_broker() != "kafka",
                       reason="tansu does not compact; runs in make test-kafka"),
]

FILLER = b"compaction-filler"  # tombstones of an account that never existed: no-ops


def force_compaction(settings: Settings) -> None:
    """Segments that roll after 100 ms and a cleaner that compacts at any dirty share."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, settings.topic("accounts.config"),
            configs={"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
                     "min.compaction.lag.ms": "0"})])
    finally:
        admin.close()


def read_topic(settings: Settings) -> list[Any]:
    """Every record accounts.config holds now, from its first offset."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    tp = TopicPartition(settings.topic("accounts.config"), 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    records: list[Any] = []
    while consumer.position(tp) < end:
        records += [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
    consumer.close()
    return records


def compact(pipeline: Pipeline, published: int, timeout_s: float = 120.0) -> list[Any]:
    """Roll the segment with filler tombstones until the cleaner has left one record per
    account (the fillers' own segment may still hold several): compaction observed, not
    waited for by the clock. Returns the records left."""
    deadline = time.monotonic() + timeout_s
    while True:
        pipeline.publish_raw("accounts.config", FILLER.decode(), None)
        records = read_topic(pipeline.settings)
        per_key: dict[bytes, int] = defaultdict(int)
        for record in records:
            per_key[record.key] += 1
        accounts = {k: n for k, n in per_key.items() if k != FILLER}
        if len(records) < published and all(n == 1 for n in accounts.values()):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"not compacted within {timeout_s}s: records per key "
                                 f"{dict(per_key)}")
        time.sleep(0.2)  # the pace of the filler records, each of which may roll a segment


def version(document: AccountDocument, v: int, account_id: str | None = None) -> bytes:
    return encode(msgspec.structs.replace(document, version=v,
                                          account_id=account_id or document.account_id))


async def test_a_replica_started_after_compaction_gets_every_newest_valid_document(
        pipeline: Pipeline, router: WorkerProcess, acme: AccountDocument) -> None:
    settings = pipeline.settings
    force_compaction(settings)
    invalid = msgspec.to_builtins(msgspec.structs.replace(acme, account_id="epsilon",
                                                          version=2))
    invalid["auto_close"]["days"] = 91
    records: list[tuple[str, bytes | None]] = [
        # acme (version 1, applied by the pipeline fixture) goes to 3, then an older 2 comes
        ("acme", version(acme, 2)), ("acme", version(acme, 3)), ("acme", version(acme, 2)),
        # beta is deleted, then comes back newer
        ("beta", version(acme, 1, "beta")), ("beta", None), ("beta", version(acme, 2, "beta")),
        # gamma's last word is its tombstone
        ("gamma", version(acme, 4, "gamma")), ("gamma", None),
        # delta changes often
        *[("delta", version(acme, v, "delta")) for v in range(1, 6)],
        # epsilon's valid document is followed by an invalid one
        ("epsilon", version(acme, 1, "epsilon")), ("epsilon", msgspec.json.encode(invalid)),
    ]
    for key, value in records:
        pipeline.publish_raw("accounts.config", key, value)
    router.wait_for_log(r"refused accounts.config offset \d+: version: 2 is older")
    router.wait_for_log(r"refused accounts.config offset \d+: .*auto_close\.days")

    left = compact(pipeline, published=1 + len(records))
    assert [r.offset for r in left][0] > 0, "the first record should be compacted away"

    replica = AccountRegistry(settings)  # a replica that starts after the compaction
    await replica.start()
    try:
        seen = {a: (d.version if (d := replica.get(a)) else None)
                for a in ("acme", "beta", "gamma", "delta", "epsilon")}
    finally:
        await replica.stop()
    assert seen == {"acme": 3, "beta": 2, "gamma": None, "delta": 5, "epsilon": 1}
