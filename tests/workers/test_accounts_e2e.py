"""A4 and I1 for `accounts.config`: a refused document reaches `deadletter` naming the field
(published by one worker kind, the router), a replica whose account reader died stops
instead of serving stale settings, and a record right behind its account's new document
waits for that document instead of being dead-lettered as unknown."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from harness.embedded import EmbeddedStack
from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.config import AccountDocument
from schemas.events import DeadLetter, TicketMessage
from tests.messages import sms
from tests.pipeline import Pipeline
from workers.state.accounts import AccountRegistry
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def config_letters(pipeline: Pipeline) -> list[DeadLetter]:
    return [r for r in pipeline.tail("deadletter").records
            if r.source_topic == "accounts.config"]


def test_refused_documents_are_dead_lettered_once_naming_the_field(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    since = len(ingest.lines)
    bad = msgspec.to_builtins(msgspec.structs.replace(acme, version=6))
    bad["auto_close"]["days"] = 91
    pipeline.publish_raw("accounts.config", "acme", msgspec.json.encode(bad))
    letters = pipeline.tail("deadletter").wait_for(
        lambda rs: any(r.source_topic == "accounts.config" for r in rs), timeout_s=30,
        what="the refused document dead-lettered")
    [letter] = [r for r in letters if r.source_topic == "accounts.config"]
    assert "auto_close.days" in letter.reason
    assert (letter.worker, letter.account_id) == ("router", "acme")
    assert msgspec.json.decode(letter_payload(letter))["version"] == 6

    # A second refusal, once every replica has read it, shows the first was published
    # once: the other kinds (here ingest) log refusals but leave the dead letter to one.
    secret = msgspec.to_builtins(msgspec.structs.replace(acme, version=7))
    secret["handoff"] = {"method": "zendesk", "subdomain": "acme", "email": "a@b.c",
                         "token_env": "TICKETFLOW_SECRET_BETA_ZENDESK"}
    pipeline.publish_raw("accounts.config", "acme", msgspec.json.encode(secret))
    pipeline.tail("deadletter").wait_for(lambda rs: len(config_letters(pipeline)) >= 2,
                                         timeout_s=30, what="the second refusal")
    ingest.wait_for_log(r"refused accounts.config offset \d+: .*handoff\.token_env",
                        since=since)
    pipeline.tail("deadletter").drain()
    letters = config_letters(pipeline)
    # One letter per refused record (the router publishes acme's applied document again
    # between them, so the second refusal's offset is not the next one).
    assert len(letters) == 2 and letters[0].offset == letter.offset < letters[1].offset
    assert "handoff.token_env: TICKETFLOW_SECRET_BETA_ZENDESK" in letters[1].reason


def letter_payload(letter: DeadLetter) -> bytes:
    import base64

    return base64.b64decode(letter.payload_b64)


def test_a_replica_whose_account_log_is_damaged_does_not_serve(
        pipeline: Pipeline, acme: AccountDocument, _stack: EmbeddedStack) -> None:
    """A batch of accounts.config that fails its CRC (a damaged log) stops the reader,
    and the replica with it: it exits non-zero naming the fault instead of serving
    settings it can no longer keep up to date. (A reader that dies later, while serving,
    cancels the replica the same way: tests/workers/test_accounts.py.)"""
    newer = encode(msgspec.structs.replace(acme, version=9))
    _stack.broker.store_damaged(pipeline.settings, "accounts.config", b"acme", newer)
    ingest = WorkerProcess("ingest", pipeline.settings).start()
    assert ingest.wait(60) > 0  # exits on its own, non-zero
    [line] = [x for x in ingest.lines if "accounts.config reader stopped" in x]
    assert "CorruptRecord" in line


def test_message_right_behind_its_new_account_waits_for_the_document(
        pipeline: Pipeline, acme: AccountDocument) -> None:
    # The production fetch wait: tansu holds an empty fetch for all of it, so a fetch sent
    # just before the document was published comes back empty up to 500 ms later, after
    # the message has arrived. One more completed fetch is then no proof of anything.
    settings = msgspec.structs.replace(pipeline.settings, fetch_max_wait_ms=500)
    ingest = WorkerProcess("ingest", settings).start_ready()
    letters = pipeline.tail("deadletter")
    try:
        for i in range(5):
            account = msgspec.structs.replace(acme, account_id=f"new-{i}")
            publish_accounts(settings, [account])
            message = sms(account_id=account.account_id, from_number=f"+1555000030{i}")
            pipeline.publish("inbound.sms", message.from_number, message)  # no wait between
            pipeline.events.wait_for(lambda rs, m=message: any(
                isinstance(r, TicketMessage) and r.message_id == m.message_id for r in rs)
                or bool(letters.poll(0) or letters.records), timeout_s=30,
                what="the message threaded or dead-lettered")
            assert not letters.records, f"account new-{i}: {letters.records[0].reason}"
    finally:
        ingest.sigterm()


def test_unknown_accounts_are_answered_once_the_reader_is_caught_up(
        pipeline: Pipeline) -> None:
    """The wait for a missing account ends when the reader has read what the topic held,
    not at the bound: a flood of records for accounts that do not exist costs one check
    per batch, and the other accounts' records in those batches go on."""
    async def go() -> tuple[set[str], float]:
        registry = AccountRegistry(pipeline.settings)
        await registry.start()
        try:
            started = time.monotonic()
            known = await registry.known_accounts({"acme", "nobody"})
            return known, time.monotonic() - started
        finally:
            await registry.stop()

    known, waited = asyncio.run(go())
    assert known == {"acme"}
    assert waited < 1.0
