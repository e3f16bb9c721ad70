"""Dead letters: a record no worker can use, kept whole with the reason (I1)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from schemas.events import DeadLetter
from workers.ids import event_id

if TYPE_CHECKING:
    from workers.consumer import Outgoing, Received


def dead_letter(record: Received, reason: str, worker: str,
                account_id: str | None = None) -> Outgoing:
    """The `deadletter` record for a refused input; its id is stable across redelivery."""
    from workers.consumer import Outgoing

    letter = DeadLetter(
        event_id=event_id("deadletter", record.topic, record.partition, record.offset),
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=reason[:2000],
        worker=worker,
        payload_b64=base64.b64encode(record.value or b"").decode("ascii"),
        at=datetime.now(timezone.utc),
        account_id=account_id,
    )
    key = (record.key or b"").decode("utf-8", "replace")
    return Outgoing("deadletter", key, letter)
