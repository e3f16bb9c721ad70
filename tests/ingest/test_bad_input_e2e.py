"""I1 end to end: malformed records go to `deadletter` with the reason, topic, partition,
offset and original bytes; the good records around them are threaded; nothing stalls."""

from __future__ import annotations

import base64

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.codec import MAX_RECORD_BYTES, encode
from schemas.events import DeadLetter, TicketMessage
from tests.messages import chat, email, sms
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e

GOOD_SMS = msgspec.to_builtins(sms())


def sms_with(**changes: object) -> bytes:
    return msgspec.json.encode({**GOOD_SMS, **changes})


def sms_without(field: str) -> bytes:
    return msgspec.json.encode({k: v for k, v in GOOD_SMS.items() if k != field})


# (topic, raw bytes, a fragment the dead letter's reason must contain)
MALFORMED: list[tuple[str, bytes | None, str]] = [
    ("inbound.sms", b"this is not json", "not valid JSON"),
    ("inbound.sms", b'{"account_id": "acme", "message_id": ', "not valid JSON"),
    ("inbound.sms", sms_with(body=42), "field $.body: "),
    ("inbound.sms", sms_without("from_number"), "field $.from_number: required field is missing"),
    ("inbound.webchat", msgspec.json.encode({**msgspec.to_builtins(chat()), "type": "video"}),
     "field $.type: "),
    ("inbound.sms", b'{"account_id":"acme","message_id":"x\xff\xfe","from_number":"+1555"}',
     "not valid UTF-8"),
    ("inbound.sms", sms_with(body="x" * 70000), "field $.body: "),
    ("inbound.sms", sms_with(received_at="yesterday"), "field $.received_at: "),
    ("inbound.sms", sms_with(received_at="2026-11-22T10:00:00"), "field $.received_at: "),
    ("inbound.sms", sms_with(account_id="nobody"), "unknown account 'nobody'"),
    ("inbound.sms", sms_with(account_id="{evil}"), "field $.account_id: "),
    ("inbound.email", msgspec.json.encode([1, 2, 3]), "field $: "),
    ("inbound.sms", None, "empty record"),
    ("inbound.sms", b"x" * 1_100_000, "exceeds 1048576 bytes"),
    # 1,000 levels in an unknown field (2 KB) once raised RecursionError and crash-looped.
    ("inbound.sms", sms_with(extra=[[]]).replace(b"[[]]", b"[" * 1000 + b"]" * 1000),
     "nested 1001 levels deep, deeper than 32"),
]


def test_malformed_records_are_dead_lettered_between_good_ones(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    # All on partition 0 of their topic, interleaved with good records: the good ones after
    # a bad one must still be threaded (no stall, no loss).
    good = []
    for i, (topic, raw, _) in enumerate(MALFORMED):
        pipeline.publish_raw(topic, f"bad-{i}", raw, partition=0)
        message = sms(from_number=f"+1555000{i:04d}")
        good.append(message)
        pipeline.publish_raw("inbound.sms", message.from_number, encode(message), partition=0)
    letters = pipeline.tail("deadletter").wait_for(
        lambda rs: len({(r.source_topic, r.offset) for r in rs}) >= len(MALFORMED),
        what="every malformed record dead-lettered")
    pipeline.events.wait_for(
        lambda rs: {m.message_id for m in good} <= {r.message_id for r in rs
                                                    if isinstance(r, TicketMessage)},
        what="every good record threaded")
    by_key = {pipeline.tail("deadletter").raw[i].key.decode(): r for i, r in enumerate(letters)}
    for i, (topic, raw, reason) in enumerate(MALFORMED):
        letter: DeadLetter = by_key[f"bad-{i}"]
        assert letter.source_topic == topic
        assert letter.partition == 0
        assert letter.worker == "ingest"
        assert reason in letter.reason, (reason, letter.reason)
        kept = base64.b64decode(letter.payload_b64)
        assert letter.payload_size == len(raw or b"")
        if letter.payload_truncated:
            assert len(kept) < len(raw or b"") and (raw or b"").startswith(kept)
        else:
            assert kept == (raw or b"")
    # offsets point at the original records
    sms_offsets = sorted(r.offset for r in letters if r.source_topic == "inbound.sms")
    assert len(set(sms_offsets)) == len(sms_offsets)
    assert ingest.alive


def test_email_and_webchat_keep_flowing_after_bad_records(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    pipeline.publish_raw("inbound.email", "x", b"{}", partition=1)
    good_mail = email()
    pipeline.publish_raw("inbound.email", "ana@example.com", encode(good_mail), partition=1)
    pipeline.publish_raw("inbound.webchat", "s-9", b'{"type":"message"}', partition=1)
    good_chat = chat(session_id="s-9")
    pipeline.publish_raw("inbound.webchat", "s-9", encode(good_chat), partition=1)
    pipeline.events.wait_for(
        lambda rs: {good_mail.message_id, good_chat.message_id}
        <= {r.message_id for r in rs if isinstance(r, TicketMessage)})
    letters = pipeline.tail("deadletter").wait_for(lambda rs: len(rs) >= 2)
    assert {r.source_topic for r in letters} == {"inbound.email", "inbound.webchat"}


def near_one_mib_sms() -> bytes:
    """An SMS just under the 1 MiB record limit, filled with tags: its ticket.created (tags,
    body and more) would be over what the producer can publish."""
    fields = {"message_id": "SM-near-1-MiB", "tags": ["t" * 100] * 10_000}
    filler = MAX_RECORD_BYTES - 64 - len(sms_with(**fields))
    return sms_with(**fields, body="x" * (len(GOOD_SMS["body"]) + filler))


# (topic, record over one limit, the field its dead letter must name)
OVER_LIMIT: list[tuple[str, bytes, str]] = [
    ("inbound.sms", sms_with(message_id="SM-51-tags", tags=[f"t{i}" for i in range(51)]),
     "$.tags"),
    ("inbound.sms", near_one_mib_sms(), "$.tags"),
    ("inbound.sms", sms_with(message_id="SM-11-media", media_urls=["https://m.example/a"] * 11),
     "$.media_urls"),
    ("inbound.email", msgspec.json.encode({**msgspec.to_builtins(email()),
                                           "references": [f"<{i}>" for i in range(100_000)]}),
     "$.references"),
    ("inbound.email", msgspec.json.encode({**msgspec.to_builtins(email()),
                                           "segments": ["vip"] * 51}), "$.segments"),
    ("inbound.webchat", msgspec.json.encode({**msgspec.to_builtins(chat()),
                                             "tags": ["x"] * 51}), "$.tags"),
]


def test_a_record_over_a_limit_is_dead_lettered_naming_the_field(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    assert len(near_one_mib_sms()) < MAX_RECORD_BYTES
    good: list[str] = []

    def publish_good(topic: str, n: int) -> None:
        message = {"inbound.sms": lambda: sms(from_number=f"+1555001{n:04d}"),
                   "inbound.email": lambda: email(from_email=f"c{n}@example.com"),
                   "inbound.webchat": lambda: chat(session_id=f"s-limit-{n}")}[topic]()
        good.append(message.message_id)
        pipeline.publish_raw(topic, f"good-{n}", encode(message), partition=0)

    for i, (topic, raw, _) in enumerate(OVER_LIMIT):  # each between two good records
        publish_good(topic, 2 * i)
        pipeline.publish_raw(topic, f"over-{i}", raw, partition=0)
        publish_good(topic, 2 * i + 1)
    pipeline.events.wait_for(
        lambda rs: set(good) <= {r.message_id for r in rs if isinstance(r, TicketMessage)},
        what="every good record threaded")
    deadletter = pipeline.tail("deadletter")
    deadletter.wait_for(lambda rs: len(rs) >= len(OVER_LIMIT), what="every over-limit record")
    by_key = {raw.key.decode(): r for raw, r in zip(deadletter.raw, deadletter.records,
                                                    strict=True)}
    for i, (topic, raw, field) in enumerate(OVER_LIMIT):
        letter: DeadLetter = by_key[f"over-{i}"]
        assert (letter.source_topic, letter.worker) == (topic, "ingest")
        assert field in letter.reason, (field, letter.reason)
        assert letter.payload_size == len(raw)
    assert len(deadletter.records) == len(OVER_LIMIT)  # no good record dead-lettered
    assert ingest.alive
