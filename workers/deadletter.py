"""Dead letters: a record no worker can use, kept whole with the reason (I1)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from schemas.events import DeadLetter
from workers.ids import event_id

if TYPE_CHECKING:
    from workers.consumer import Outgoing, Received


MAX_PAYLOAD_BYTES = 524288
"""Original bytes kept in a dead letter; larger records keep their first 512 KiB, so the
dead letter itself always fits under the broker's record limit."""


def dead_letter(record: Received, reason: str, worker: str,
                account_id: str | None = None, at: datetime | None = None) -> Outgoing:
    """The `deadletter` record for a refused input; its id is stable across redelivery.
    `at` defaults to now; a caller that may publish the same letter more than once passes
    a time of the record itself, so every copy is the same record."""
    from workers.consumer import Outgoing

    payload = record.value or b""
    letter = DeadLetter(
        event_id=event_id("deadletter", record.topic, record.partition, record.offset),
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason[:2000],
        worker=worker,
        payload_b64=base64.b64encode(payload[:MAX_PAYLOAD_BYTES]).decode("ascii"),
        at=at or datetime.now(UTC),
        account_id=account_id,
        payload_size=len(payload),
        payload_truncated=len(payload) > MAX_PAYLOAD_BYTES,
    )
    key = (record.key or b"").decode("utf-8", "replace")
    return Outgoing("deadletter", key, letter)
