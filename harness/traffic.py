"""Sample customer traffic over all three channels, for `make run` and the benchmark."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime

from schemas.codec import encode
from schemas.inbound import EmailMessage, SmsMessage, Visitor, WebchatMessage, WebchatTyping
from workers.runtime.kafka import make_producer
from workers.runtime.settings import Settings

# An email's subject is its text: "newsletter" meets acme-balanced's low-priority rule (R12).
_TEXTS = ["Where is my order?", "I want a refund", "My parcel arrived damaged",
          "Can I change my address?", "Do you ship to Sweden?", "Thanks!",
          "Please stop the newsletter"]
_SHOP_NUMBER = "+15557654321"


def sample_records(account_id: str, count: int, seed: int = 7,
                   customers: int = 50) -> Iterator[tuple[str, str, bytes]]:
    """`count` inbound records (topic, key, value) from a pool of returning customers."""
    rng = random.Random(seed)
    for i in range(count):
        now = datetime.now(UTC)
        who = rng.randrange(customers)
        text = rng.choice(_TEXTS)
        channel = rng.choice(("sms", "email", "webchat"))
        if channel == "sms":
            number = f"+1555{who:07d}"
            yield "inbound.sms", number, encode(SmsMessage(
                account_id=account_id, message_id=f"SM{seed}-{i}", from_number=number,
                to_number=_SHOP_NUMBER, body=text, received_at=now,
                tags=rng.choice([[], ["parcel"], ["refund"]]),
                segments=rng.choice([[], ["vip"]])))
        elif channel == "email":
            address = f"customer{who}@example.com"
            yield "inbound.email", address, encode(EmailMessage(
                account_id=account_id, message_id=f"<{seed}-{i}@mail.example>",
                from_email=address, from_name=f"Customer {who}",
                to_email="help@acme.example", subject=text, text=text, received_at=now,
                tags=rng.choice([[], ["refund"]])))
        else:
            session = f"s-{seed}-{who}"
            if rng.random() < 0.3:
                yield "inbound.webchat", session, encode(WebchatTyping(
                    account_id=account_id, session_id=session, at=now))
            yield "inbound.webchat", session, encode(WebchatMessage(
                account_id=account_id, message_id=f"wc-{seed}-{i}", session_id=session,
                text=text, sent_at=now, visitor=Visitor(name=f"Visitor {who}")))


async def publish_sample_traffic(settings: Settings, account_id: str, count: int,
                                 rate: float | None = None, seed: int = 7) -> int:
    """Publish sample records, paced at `rate` per second when given; returns the count."""
    producer = make_producer(settings)
    await producer.start()
    sent = 0
    try:
        for topic, key, value in sample_records(account_id, count, seed):
            await producer.send(settings.topic(topic), value, key=key.encode())
            sent += 1
            if rate:
                await asyncio.sleep(1.0 / rate)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
