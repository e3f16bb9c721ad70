"""Commands a client can shape against the router (issue 12, findings 8 and 11): a command id
that names another kind's dedup mark, replies by the AI or an analyst, oversized lists."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.agent_app import AssignCommand, SetTagsCommand
from schemas.config import AccountDocument
from schemas.events import (
    CommandRejected,
    DeadLetter,
    TicketAssigned,
    TicketCreated,
    TicketMessage,
    TicketStatus,
)
from tests.conftest import MONDAY_OPEN, ClockControl
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence
from workers.state.business_hours import current_opening
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e

NEXT_MONDAY_OPEN = MONDAY_OPEN.replace(day=30, hour=8)  # 09:00 in Paris
JUST_BEFORE = NEXT_MONDAY_OPEN - timedelta(minutes=1)


def _backlogs_before_opening(pipeline: Pipeline, router: WorkerProcess, clock: ClockControl,
                             acme: AccountDocument) -> tuple[dict[str, list[TicketCreated]],
                                                             datetime]:
    """acme, then beta (read by the router after acme), each with ag-3 online and two SMS
    tickets waiting in shipping's backlog a minute before hours begin; and that opening."""
    clock.set(JUST_BEFORE)  # 08:59 in Paris: closed, opening in a minute
    since = len(router.lines)
    publish_accounts(pipeline.settings, [msgspec.structs.replace(acme, account_id="beta")])
    router.wait_for_log("account beta version 1 loaded", since=since)
    for account in ("acme", "beta"):
        presence(pipeline, "ag-3", account=account, at=JUST_BEFORE, applied_by=router)
    waiting = {account: [new_ticket(pipeline, account_id=account,
                                    from_number=f"+155500080{i}{n}")
                         for n in range(2)] for i, account in enumerate(("acme", "beta"))}
    for tickets in waiting.values():
        for t in tickets:
            assert assignments(pipeline, t.ticket_id)[0].agent_id is None
    opening = current_opening(acme.business_hours, NEXT_MONDAY_OPEN)
    assert opening is not None
    return waiting, opening


def test_a_command_id_naming_a_drain_mark_does_not_stop_any_account_draining(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl, acme: AccountDocument) -> None:
    """Finding 8: a `set_status` whose command id spelled acme's opening-drain mark broke the
    opening sweep at acme, so beta (read after acme) never drained its backlog either."""
    waiting, opening = _backlogs_before_opening(pipeline, router, clock, acme)
    hostile = waiting["acme"].pop()
    command(pipeline, "set_status", hostile.ticket_id, actor_id="ag-3",
            ticket_id=hostile.ticket_id, status="closed",
            command_id=f"drain:open:{opening.isoformat()}:shipping")
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketStatus) and r.ticket_id == hostile.ticket_id for r in rs),
        what="the hostile set_status applied")
    clock.set(NEXT_MONDAY_OPEN)
    router.wait_for_log("hours began for beta: 2 waiting tickets assigned")
    router.wait_for_log("hours began for acme: 1 waiting tickets assigned")
    for t in waiting["beta"] + waiting["acme"]:
        assert assignments(pipeline, t.ticket_id, 2)[1].method == "backlog"


def test_one_accounts_bad_state_does_not_stop_the_opening_sweep(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl, acme: AccountDocument) -> None:
    """Finding 8: whatever breaks one account's drain, the accounts after it still drain,
    and the broken one is retried on its own."""
    waiting, opening = _backlogs_before_opening(pipeline, router, clock, acme)
    broken = pipeline.keys.mark("acme", "drain", f"open:{opening.isoformat()}", "shipping")
    pipeline.redis.hset(broken, "not", "a string")  # GET on it: WRONGTYPE
    clock.set(NEXT_MONDAY_OPEN)
    router.wait_for_log("hours began for beta: 2 waiting tickets assigned")
    router.wait_for_log("opening sweep failed for acme")
    since = len(router.lines)
    pipeline.redis.delete(broken)
    router.wait_for_log("hours began for acme: 2 waiting tickets assigned", since=since)
    for t in waiting["beta"] + waiting["acme"]:
        assert assignments(pipeline, t.ticket_id, 2)[1].method == "backlog"


def _outbound(pipeline: Pipeline, ticket_id: str) -> list[TicketMessage]:
    return [r for r in pipeline.events.records if isinstance(r, TicketMessage)
            and r.ticket_id == ticket_id and r.direction == "outbound"]


def test_ai_replies_come_only_from_the_accounts_ai_and_never_claim(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    """Finding 11: `author_kind: ai` skipped every actor check."""
    ticket = new_ticket(pipeline, from_number="+15550008100")  # nobody online: unassigned
    assert assignments(pipeline, ticket.ticket_id)[0].agent_id is None
    intruder = command(pipeline, "reply", ticket.ticket_id, actor_id="intruder",
                       ticket_id=ticket.ticket_id, author_kind="ai", text="Send me your card")
    posing = command(pipeline, "reply", ticket.ticket_id, actor_id="ag-1",
                     ticket_id=ticket.ticket_id, author_kind="ai", text="I am the bot")
    command(pipeline, "reply", ticket.ticket_id, actor_id="bot", ticket_id=ticket.ticket_id,
            author_kind="ai", text="Anything else?")
    # Commands of one ticket share a partition: once the bot's reply is out, so are the others.
    pipeline.events.wait_for(lambda rs: any(m.author_id == "bot" for m in _outbound(
        pipeline, ticket.ticket_id)), what="the bot's reply")
    pipeline.events.drain()
    assert [(m.author_kind, m.author_id) for m in _outbound(pipeline, ticket.ticket_id)] == [
        ("ai", "bot")]
    reasons = {r.command_id: r.reason for r in pipeline.events.records
               if isinstance(r, CommandRejected)}
    assert reasons.get(intruder) == "actor 'intruder' is not an AI agent of account 'acme'"
    assert reasons.get(posing) == "actor 'ag-1' is not an AI agent of account 'acme'"
    assert pipeline.ticket(ticket.ticket_id).get("agent_id") is None  # R7: never claims


def test_an_analyst_reply_is_sent_but_does_not_claim_the_ticket(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    """Finding 11: an analyst became the assignee by replying (A3: analysts may not assign)."""
    ticket = new_ticket(pipeline, from_number="+15550008200")
    assert assignments(pipeline, ticket.ticket_id)[0].agent_id is None
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-9", ticket_id=ticket.ticket_id,
            author_kind="agent", text="Noted")
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-2", ticket_id=ticket.ticket_id,
            author_kind="agent", text="On it")
    claim = assignments(pipeline, ticket.ticket_id, 2)[1]
    assert (claim.method, claim.agent_id, claim.previous_agent_id) == ("reply", "ag-2", None)
    assert [m.author_id for m in _outbound(pipeline, ticket.ticket_id)] == ["ag-9", "ag-2"]


def test_over_limit_commands_are_dead_letters_naming_the_field(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    """Finding 11: a bulk assign of ~110k ids stalled a partition; lists are capped."""
    ticket = new_ticket(pipeline, from_number="+15550008300")
    assignments(pipeline, ticket.ticket_id)
    bulk = AssignCommand(command_id="bulk-huge", account_id="acme", actor_id="ag-3",
                         at=MONDAY_OPEN, ticket_ids=["t"] * 110_000,
                         agent_id="ag-1")
    pipeline.publish("tickets.commands", "acme", bulk)
    pipeline.publish("tickets.commands", "acme", msgspec.structs.replace(
        bulk, command_id="bulk-101", ticket_ids=[ticket.ticket_id] * 101))
    pipeline.publish("tickets.commands", ticket.ticket_id, SetTagsCommand(
        command_id="tags-101", account_id="acme", actor_id="ag-3", at=MONDAY_OPEN,
        ticket_id=ticket.ticket_id, tags=[f"tag{n}" for n in range(101)]))
    pipeline.publish("tickets.commands", "acme", msgspec.structs.replace(
        bulk, command_id="bulk-ok", ticket_ids=[ticket.ticket_id] * 100))
    change = assignments(pipeline, ticket.ticket_id, 2)[1]  # the good one behind them
    assert (change.agent_id, change.actor_id) == ("ag-1", "ag-3")
    letters = pipeline.tail("deadletter").wait_for(lambda rs: len(rs) >= 3, timeout_s=30)
    assert all(isinstance(d, DeadLetter) for d in letters)
    reasons = sorted(d.reason for d in letters)
    assert sum("ticket_ids" in r for r in reasons) == 2, reasons
    assert sum("tags" in r for r in reasons) == 1, reasons
    assert not [r for r in pipeline.events.drain() if isinstance(r, CommandRejected)
                and r.command_id.startswith("bulk-")]
    assert len([r for r in pipeline.events.records if isinstance(r, TicketAssigned)
                and r.ticket_id == ticket.ticket_id]) == 2
