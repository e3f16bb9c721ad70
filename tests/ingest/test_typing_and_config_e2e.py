"""I5 (typing forwarded to the closer), A4 (settings reach a running replica), unknown
accounts, and the countdown cancel a customer message sends to the closer."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.config import AccountDocument
from schemas.events import DeadLetter, TicketMessage
from schemas.internal import CountdownCancel, CustomerTyping
from tests.messages import at, chat, sms, typing
from tests.pipeline import Pipeline
from workers.cli import main
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def test_typing_is_forwarded_to_the_closer(pipeline: Pipeline, ingest: WorkerProcess) -> None:
    # Same partition throughout, so the records are handled in this order.
    pipeline.publish("inbound.webchat", "s-t", typing(session_id="s-nobody"), partition=2)
    first = chat(session_id="s-t")
    pipeline.publish("inbound.webchat", "s-t", first, partition=2)
    pipeline.publish("inbound.webchat", "s-t", typing(session_id="s-t", at=at(3)), partition=2)
    timers = pipeline.tail("timers").wait_for(
        lambda rs: any(isinstance(r, CustomerTyping) for r in rs))
    ticket = next(r.ticket_id for r in pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketMessage) for r in rs)) if isinstance(r, TicketMessage))
    typings = [r for r in timers if isinstance(r, CustomerTyping)]
    # The typing of a session without a ticket delays nothing and is not forwarded.
    assert [(t.ticket_id, t.at) for t in typings] == [(ticket, at(3))]
    cancels = [r for r in timers if isinstance(r, CountdownCancel)]
    assert [(c.ticket_id, c.version) for c in cancels] == [(ticket, 1)]


def test_customer_messages_raise_the_activity_version(pipeline: Pipeline,
                                                      ingest: WorkerProcess) -> None:
    for i in range(3):
        m = sms(from_number="+15550000077", received_at=at(i))
        pipeline.publish("inbound.sms", m.from_number, m)
    cancels = pipeline.tail("timers").wait_for(
        lambda rs: len(rs) >= 3, what="three countdown cancels")
    assert [c.version for c in cancels if isinstance(c, CountdownCancel)] == [1, 2, 3]
    ticket = cancels[0].ticket_id
    assert pipeline.ticket(ticket)["version"] == "3"


def test_new_account_and_settings_reach_a_running_worker(
        pipeline: Pipeline, ingest: WorkerProcess, acme: AccountDocument, tmp_path: Path) -> None:
    early = sms(account_id="beta", from_number="+15550000100")
    pipeline.publish("inbound.sms", "k", early, partition=3)
    letters = pipeline.tail("deadletter").wait_for(lambda rs: len(rs) >= 1)
    assert "unknown account 'beta'" in letters[0].reason

    since = len(ingest.lines)
    beta = msgspec.structs.replace(acme, account_id="beta", version=1)
    (tmp_path / "beta.yaml").write_bytes(msgspec.yaml.encode(beta))
    result = CliRunner().invoke(main, ["config", "apply", str(tmp_path / "beta.yaml")],
                                env=pipeline.settings.to_env())
    assert result.exit_code == 0, result.output
    ingest.wait_for_log(r"account beta version 1 loaded", since=since)
    later = sms(account_id="beta", from_number="+15550000100")
    pipeline.publish("inbound.sms", "k", later, partition=3)
    message = pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketMessage) for r in rs))[-1]
    assert message.account_id == "beta" and message.message_id == later.message_id
    assert pipeline.redis.get(pipeline.keys.seq("beta")) == "1"
    assert pipeline.redis.get(pipeline.keys.seq("acme")) is None  # A1: nothing leaked


def test_invalid_or_older_document_keeps_the_previous_version(
        pipeline: Pipeline, ingest: WorkerProcess, acme: AccountDocument) -> None:
    since = len(ingest.lines)
    newer = msgspec.structs.replace(acme, version=5)
    publish_accounts(pipeline.settings, [newer])
    ingest.wait_for_log(r"account acme version 5 loaded", since=since)
    bad = msgspec.to_builtins(newer)
    bad["version"] = 6
    bad["auto_close"]["days"] = 91
    pipeline.publish_raw("accounts.config", "acme", msgspec.json.encode(bad))
    line = ingest.wait_for_log(r"refused accounts.config", since=since)
    assert "auto_close.days" in line
    older = msgspec.structs.replace(acme, version=2)
    pipeline.publish_raw("accounts.config", "acme", encode(older))
    line = ingest.wait_for_log(r"refused accounts.config offset \d+: version: 2", since=since)
    assert "older than the applied version 5" in line
    # acme still works with version 5
    m = sms()
    pipeline.publish("inbound.sms", m.from_number, m)
    pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketMessage) for r in rs))
    assert not [r for r in pipeline.tail("deadletter").drain() if isinstance(r, DeadLetter)]


def test_message_right_behind_its_new_account_is_not_refused(
        pipeline: Pipeline, ingest: WorkerProcess, acme: AccountDocument) -> None:
    gamma = msgspec.structs.replace(acme, account_id="gamma", version=1)
    publish_accounts(pipeline.settings, [gamma])
    message = sms(account_id="gamma", from_number="+15550000200")
    pipeline.publish("inbound.sms", message.from_number, message)  # no wait in between
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.message_id == message.message_id for r in rs))
    assert not pipeline.tail("deadletter").drain()
