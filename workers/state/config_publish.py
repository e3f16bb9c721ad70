"""Publishing account documents to the compacted `accounts.config` topic (A4)."""

from __future__ import annotations

from schemas.codec import encode
from schemas.config import AccountDocument
from workers.runtime.kafka import make_blocking_producer
from workers.runtime.settings import Settings


def publish_accounts(settings: Settings, documents: list[AccountDocument]) -> None:
    """Publish validated documents, keyed by account id, and wait for the broker's ack."""
    producer = make_blocking_producer(settings)
    try:
        for document in documents:
            producer.send(settings.topic("accounts.config"), encode(document),
                          key=document.account_id.encode()).get(timeout=30)
    finally:
        producer.close()
