"""Dead letters: a record no worker can use, kept whole with the reason (I1)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from schemas.events import DeadLetter
from workers.runtime.ids import event_id

if TYPE_CHECKING:
    from workers.runtime.records import Outgoing, Received


MAX_PAYLOAD_BYTES = 524288
"""Original bytes kept in a dead letter; larger records keep their first 512 KiB, so the
dead letter itself always fits under the broker's record limit."""


def dead_letter(record: Received, reason: str, worker: str,
                account_id: str | None = None, at: datetime | None = None) -> Outgoing:
    """The `deadletter` record for a refused input, the same record on every redelivery:
    its id comes from the topic, partition and offset, and `at` defaults to the record's
    own broker timestamp (now only for a record that has none)."""
    from workers.runtime.records import Outgoing

    payload = record.value or b""
    letter = DeadLetter(
        event_id=event_id("deadletter", record.topic, record.partition, record.offset),
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason[:2000],
        worker=worker,
        payload_b64=base64.b64encode(payload[:MAX_PAYLOAD_BYTES]).decode("ascii"),
        at=at or _record_time(record),
        account_id=account_id,
        payload_size=len(payload),
        payload_truncated=len(payload) > MAX_PAYLOAD_BYTES,
    )
    key = (record.key or b"").decode("utf-8", "replace")
    return Outgoing("deadletter", key, letter)


def _record_time(record: Received) -> datetime:
    if record.timestamp_ms is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)

