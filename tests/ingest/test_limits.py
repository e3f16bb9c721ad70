"""Limits on inbound records: the largest record the schemas accept still yields events well
under what the producer can publish (1 MiB a record), and one item or character over any
limit is refused naming the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas.codec import MAX_RECORD_BYTES, TOPICS, DecodeError, decode, encode
from schemas.common import MAX_BODY_CHARS
from schemas.inbound import MAX_LABELS, MAX_MEDIA_URLS, MAX_REFERENCES, Visitor
from tests.messages import chat, email, sms
from workers.ingest.events import ticket_events
from workers.ingest.threading import ThreadOutcome, plan_threading

# msgspec writes a control character as `\u0001`: 6 bytes for one character, the most any
# character can cost once encoded, so every string below is the costliest string of its length.
W = "\x01"
ID = W * 256
LABELS = [W * 100] * MAX_LABELS
PHONE = "+" + "9" * 20
EMAIL = W * 128 + "@" + W * 255
WORST_EVENT_BYTES = MAX_RECORD_BYTES // 2
"""The largest event an inbound record may produce: half the producer's limit leaves room
for record overhead and for fields added later."""


def worst_sms() -> Any:
    return sms(message_id=ID, from_number=PHONE, to_number=PHONE, body=W * MAX_BODY_CHARS,
               profile_id=ID, tags=LABELS, segments=LABELS,
               media_urls=["https://" + "x" * 2040] * MAX_MEDIA_URLS)


def worst_email() -> Any:
    return email(message_id=ID, from_email=EMAIL, to_email=EMAIL, text=W * MAX_BODY_CHARS,
                 subject=W * 998, from_name=W * 256, in_reply_to=ID,
                 references=[ID] * MAX_REFERENCES, profile_id=ID, tags=LABELS, segments=LABELS)


def worst_chat() -> Any:
    return chat(message_id=ID, session_id=ID, text=W * MAX_BODY_CHARS, tags=LABELS,
                segments=LABELS,
                visitor=Visitor(email=EMAIL, name=W * 256, profile_id=ID, authenticated=True))


WORST = {"inbound.sms": worst_sms, "inbound.email": worst_email, "inbound.webchat": worst_chat}
OUTCOMES = [
    ThreadOutcome(kind=kind, ticket_id="t-" + "f" * 20 + "-" + "9" * 18,  # type: ignore[arg-type]
                  number=10**18, created_at="2026-11-22T10:00:00.123456Z",
                  customer_ticket_count=10**18, version=10**18, duplicate=False,
                  previous_status="snoozed" if kind != "created" else None)
    for kind in ("created", "reopened", "appended")
]


@pytest.mark.parametrize("topic", list(WORST))
def test_the_largest_accepted_record_yields_events_well_under_the_publish_limit(
        topic: str) -> None:
    # At every limit, and valid: the schema alone bounds the events (this email is even over
    # the record size limit, with its 2,000 longest references, which events do not carry).
    message = msgspec.json.decode(encode(WORST[topic]()), type=TOPICS[topic])
    plan = plan_threading(message)
    sizes: dict[str, int] = {}
    for outcome in OUTCOMES:
        for out in ticket_events(plan, outcome):
            size = len(encode(out.value)) + len(out.key.encode())
            kind = out.value.__struct_config__.tag
            sizes[kind] = max(sizes.get(kind, 0), size)
    assert {"ticket.created", "ticket.message", "ticket.status", "countdown.cancel"} <= set(sizes)
    assert max(sizes.values()) <= WORST_EVENT_BYTES, sizes


def over(build: Any, **changes: Any) -> bytes:
    return msgspec.json.encode({**msgspec.to_builtins(build()), **changes})


OVER_LIMIT = [
    ("inbound.sms", over(sms, tags=["t"] * (MAX_LABELS + 1)), "$.tags"),
    ("inbound.sms", over(sms, segments=["s"] * (MAX_LABELS + 1)), "$.segments"),
    ("inbound.sms", over(sms, media_urls=["https://x"] * (MAX_MEDIA_URLS + 1)), "$.media_urls"),
    ("inbound.sms", over(sms, tags=["t" * 101]), "$.tags[0]"),
    ("inbound.sms", over(sms, body="x" * (MAX_BODY_CHARS + 1)), "$.body"),
    ("inbound.sms", over(sms, message_id="m" * 257), "$.message_id"),
    ("inbound.email", over(email, references=["<r>"] * (MAX_REFERENCES + 1)), "$.references"),
    ("inbound.email", over(email, references=["r" * 257]), "$.references[0]"),
    ("inbound.email", over(email, in_reply_to="r" * 257), "$.in_reply_to"),
    ("inbound.email", over(email, subject="s" * 999), "$.subject"),
    ("inbound.email", over(email, from_name="n" * 257), "$.from_name"),
    ("inbound.email", over(email, tags=["t"] * (MAX_LABELS + 1)), "$.tags"),
    ("inbound.webchat", over(chat, segments=["s"] * (MAX_LABELS + 1)), "$.segments"),
    ("inbound.webchat", over(chat, session_id="s" * 257), "$.session_id"),
    ("inbound.webchat", over(chat, visitor={"name": "n" * 257}), "$.visitor.name"),
]


@pytest.mark.parametrize(("topic", "raw", "field"), OVER_LIMIT,
                         ids=[f"{t}:{f}" for t, _, f in OVER_LIMIT])
def test_one_over_any_limit_is_refused_naming_the_field(topic: str, raw: bytes,
                                                        field: str) -> None:
    with pytest.raises(DecodeError) as refused:
        decode(topic, raw)
    assert field in str(refused.value)
