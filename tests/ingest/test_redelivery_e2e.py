"""I2 end to end: a provider retry that alters the content of a message it already sent
(another time, another text, other tags) changes nothing. The events of the first delivery
are re-published under the same event ids with the content the first delivery recorded, so
an event id always names one content."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.events import TicketCreated, TicketMessage
from schemas.inbound import InboundMessage, Visitor
from tests.messages import at, chat, email, sms
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e

Build = Callable[[], InboundMessage]
Retry = Callable[[InboundMessage], list[InboundMessage]]


def _sms_retries(first: InboundMessage) -> list[InboundMessage]:
    return [msgspec.structs.replace(first, received_at=at(30)),
            msgspec.structs.replace(first, received_at=at(40), body="I never wrote this",
                                    tags=["forged"], profile_id="p-other")]


def _email_retries(first: InboundMessage) -> list[InboundMessage]:
    return [msgspec.structs.replace(first, received_at=at(30)),
            msgspec.structs.replace(first, received_at=at(40), text="I never wrote this",
                                    subject="Something else", from_name="Mallory",
                                    segments=["vip"])]


def _chat_retries(first: InboundMessage) -> list[InboundMessage]:
    return [msgspec.structs.replace(first, sent_at=at(30)),
            msgspec.structs.replace(first, sent_at=at(40), text="I never wrote this",
                                    visitor=Visitor(name="Mallory", email="m@example.com"))]


CHANNELS: dict[str, tuple[str, Build, Retry, Build]] = {
    "sms": ("inbound.sms", lambda: sms(from_number="+15550000071", received_at=at(0)),
            _sms_retries, lambda: sms(from_number="+15550000071", received_at=at(50))),
    "email": ("inbound.email",
              lambda: email(message_id="<first@mail.example>", received_at=at(0)),
              _email_retries,
              lambda: email(in_reply_to="<first@mail.example>", received_at=at(50))),
    "webchat": ("inbound.webchat", lambda: chat(session_id="s-retry", sent_at=at(0)),
                _chat_retries, lambda: chat(session_id="s-retry", sent_at=at(50))),
}


def _key(message: InboundMessage) -> str:
    return getattr(message, "from_number", None) or getattr(message, "session_id", None) \
        or message.from_email  # type: ignore[union-attr]


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_retry_with_altered_content_republishes_what_the_first_delivery_recorded(
        pipeline: Pipeline, ingest: WorkerProcess, channel: str) -> None:
    topic, build_first, build_retries, build_marker = CHANNELS[channel]
    first = build_first()
    pipeline.publish(topic, _key(first), first)
    pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketMessage)
                                            and r.message_id == first.message_id for r in rs),
                             what="the first delivery threaded")
    first_events = {r.event_id: encode(r) for r in pipeline.events.drain()}
    for retry in build_retries(first):
        pipeline.publish(topic, _key(retry), retry)
    marker = build_marker()  # a later message of the same thread: everything before it is in
    pipeline.publish(topic, _key(marker), marker)
    pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketMessage)
                                            and r.message_id == marker.message_id for r in rs),
                             what="the marker threaded")
    pipeline.tail("timers").wait_for(lambda rs: len({r.event_id for r in rs}) >= 2,
                                     what="both countdown cancels")

    # Every copy of every event id is the very same record (nothing but dead letters may
    # carry a publication time).
    for tail in (pipeline.events.drain(), pipeline.tail("timers").drain()):
        copies: dict[str, set[bytes]] = defaultdict(set)
        for record in tail:
            copies[record.event_id].add(encode(record))
        changed = {eid: sorted(c) for eid, c in copies.items() if len(c) > 1}
        assert not changed, changed

    # The retries were re-published (the check above is not vacuous), with the first content.
    retried = [r for r in pipeline.events.records
               if isinstance(r, TicketMessage) and r.message_id == first.message_id]
    assert len(retried) == 3
    assert {encode(r) for r in retried} <= set(first_events.values())
    created = pipeline.events.of_type(TicketCreated)
    assert len(created) == 3 and {encode(c) for c in created} <= set(first_events.values())
    assert len({c.ticket_id for c in created}) == 1
    ticket = pipeline.ticket(created[0].ticket_id)
    assert ticket["message_count"] == "2"  # the first delivery and the marker
