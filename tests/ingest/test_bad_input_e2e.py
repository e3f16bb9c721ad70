"""I1 end to end: malformed records go to `deadletter` with the reason, topic, partition,
offset and original bytes; the good records around them are threaded; nothing stalls."""

from __future__ import annotations

import base64

import msgspec
import pytest

from schemas.codec import encode
from schemas.events import DeadLetter, TicketMessage
from tests.messages import chat, email, sms
from tests.pipeline import Pipeline
from workers.processes import WorkerProcess

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
