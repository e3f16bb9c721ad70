"""C1 (disabled account), C6 (stale countdowns, settings read at fire time, restarts)."""

from __future__ import annotations

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.config import AccountDocument, AutoClose
from tests.closer.conftest import DAY, Harness
from tests.messages import at, sms
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def new_ticket(harness: Harness, number: str) -> str:
    m = sms(from_number=number)
    harness.p.publish("inbound.sms", m.from_number, m)
    return harness.message_ticket(m.message_id)


def apply_auto_close(harness: Harness, closer: WorkerProcess, acme: AccountDocument,
                     version: int, **auto_close: object) -> None:
    """Publish a new acme document and wait until the running closer loaded it (A4)."""
    since = len(closer.lines)
    document = msgspec.structs.replace(acme, version=version,
                                       auto_close=AutoClose(**auto_close))  # type: ignore[arg-type]
    publish_accounts(harness.p.settings, [document])
    closer.wait_for_log(rf"account acme version {version} loaded", since=since)


def test_disabled_account_closes_nothing_until_turned_on(
        harness: Harness, workers: tuple[WorkerProcess, WorkerProcess],
        acme: AccountDocument) -> None:
    ingest, closer = workers
    apply_auto_close(harness, closer, acme, 2, enabled=False, days=2)
    ticket = new_ticket(harness, "+15550003001")
    harness.agent_replied(ticket, at(60))
    harness.wait_countdown(ticket)
    beta = msgspec.structs.replace(acme, account_id="beta", version=1)
    publish_accounts(harness.p.settings, [beta])
    for worker in (ingest, closer):  # ingest refuses messages of accounts it does not know
        worker.wait_for_log(r"account beta version 1 loaded")
    marker = sms(account_id="beta", from_number="+15550003002")
    harness.p.publish("inbound.sms", marker.from_number, marker)
    beta_ticket = harness.message_ticket(marker.message_id)
    harness.agent_replied(beta_ticket, at(60), version=1, account_id="beta")
    harness.set_clock(at(60) + 10 * DAY)
    harness.wait_closed(beta_ticket)
    assert ticket not in harness.closed_ids()
    assert harness.p.ticket(ticket)["status"] == "open"
    # Turned on again: the countdown kept running and is long overdue.
    apply_auto_close(harness, closer, acme, 3, enabled=True, days=2)
    (close,) = [c for c in harness.wait_closed(ticket) if c.ticket_id == ticket]
    assert close.at == at(60) + 10 * DAY


def test_period_is_read_at_fire_time(harness: Harness, closer: WorkerProcess,
                                     acme: AccountDocument) -> None:
    longer = new_ticket(harness, "+15550003003")
    shorter = new_ticket(harness, "+15550003004")
    marker = new_ticket(harness, "+15550003005")
    harness.agent_replied(longer, at(0))
    harness.agent_replied(marker, at(0) - DAY)
    harness.wait_countdown(longer)
    harness.wait_countdown(marker)
    apply_auto_close(harness, closer, acme, 2, enabled=True, days=3)
    harness.set_clock(at(0) + 2 * DAY)  # due under the old period, not under the new one
    harness.wait_closed(marker)
    assert longer not in harness.closed_ids()
    harness.set_clock(at(0) + 3 * DAY)
    harness.wait_closed(longer)
    # A shorter period makes a waiting countdown due earlier, with no new record for it.
    harness.agent_replied(shorter, at(0) + 3 * DAY)
    harness.wait_countdown(shorter)
    harness.set_clock(at(0) + 4 * DAY)
    apply_auto_close(harness, closer, acme, 3, enabled=True, days=1)
    closes = {c.ticket_id: c for c in harness.wait_closed(shorter)}
    assert closes[longer].at == at(0) + 3 * DAY
    assert closes[shorter].at == at(0) + 4 * DAY


def test_countdown_made_stale_by_newer_activity_does_nothing(
        harness: Harness, closer: WorkerProcess) -> None:
    ticket = new_ticket(harness, "+15550003006")
    marker = new_ticket(harness, "+15550003007")
    harness.agent_replied(ticket, at(60))
    harness.wait_countdown(ticket)
    reply = sms(from_number="+15550003006", received_at=at(120))
    harness.p.publish("inbound.sms", reply.from_number, reply)
    harness.message_ticket(reply.message_id)
    # The agent reply for the old version arrives late (after the customer wrote again);
    # the marker's start follows it on the same partition, so once the marker's countdown
    # is held, the stale start was handled.
    harness.agent_replied(ticket, at(90), version=1, partition=0)
    harness.agent_replied(marker, at(90), partition=0)
    harness.wait_countdown(marker)
    harness.set_clock(at(90) + 2 * DAY)
    harness.wait_closed(marker)
    assert harness.closed_ids() == {marker}
    assert harness.p.ticket(ticket)["status"] == "open"
    assert harness.countdown(ticket) is None


def test_countdowns_survive_a_closer_restart(harness: Harness, closer: WorkerProcess) -> None:
    tickets = [new_ticket(harness, f"+1555000310{i}") for i in range(3)]
    for i, ticket in enumerate(tickets):
        harness.agent_replied(ticket, at(60 * i))
    for ticket in tickets:
        harness.wait_countdown(ticket)
    harness.set_clock(at(0) + 2 * DAY)
    harness.wait_closed(tickets[0])
    # Firing needs no consumer-group membership, only Redis: a restarted replica fires
    # overdue countdowns as soon as its fire loop is up.
    assert closer.sigterm() == 0  # drains and exits cleanly
    harness.set_clock(at(60) + 2 * DAY)  # due while no closer runs
    closer.start().wait_for_log(r"closer fire loop ready")
    harness.wait_closed(tickets[1])
    closer.sigkill()
    harness.set_clock(at(120) + 2 * DAY)
    closer.start().wait_for_log(r"closer fire loop ready")
    closes = harness.wait_closed(*tickets)
    # A replica killed between publishing a close and recording it in Redis leaves it to be
    # published again: the same event (id and content), which consumers drop (at least once).
    once = {c.event_id: c for c in closes}
    assert all(c == once[c.event_id] for c in closes)
    assert sorted((c.ticket_id, c.at) for c in once.values()) == sorted(
        (t, at(60 * i) + 2 * DAY) for i, t in enumerate(tickets))
    closer.sigkill()  # its group join still waits out the killed member's session
