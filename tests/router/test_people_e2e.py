"""R3-R7, R9, R10, N1, A1, A3 end to end: presence, business hours, manual commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from click.testing import CliRunner

from harness.processes import WorkerProcess
from schemas.config import AccountDocument
from schemas.events import CommandRejected, Notification, TicketAssigned, TicketStatus
from schemas.internal import CountdownStart
from tests.conftest import MONDAY_OPEN, ClockControl
from tests.messages import sms
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence
from workers.cli import main
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e

SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
NEXT_MONDAY_OPEN = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Paris


def rejected(pipeline: Pipeline, command_id: str) -> CommandRejected:
    return next(r for r in pipeline.events.wait_for(lambda rs: any(
        isinstance(r, CommandRejected) and r.command_id == command_id for r in rs))
        if isinstance(r, CommandRejected) and r.command_id == command_id)


def test_presence_is_self_only_and_offline_agents_get_nothing(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl) -> None:
    presence(pipeline, "ag-3", actor="ag-2")  # someone else setting ag-3 online: refused
    refusal = pipeline.events.wait_for(
        lambda rs: any(isinstance(r, CommandRejected) for r in rs))[-1]
    assert "may not set the presence of 'ag-3'" in refusal.reason
    presence(pipeline, "ag-2")
    presence(pipeline, "ag-3", applied_by=router)
    presence(pipeline, "ag-2", "logout", applied_by=router)
    for n in range(3):  # shipping = [ag-2, ag-3]; only ag-3 is online
        ticket = new_ticket(pipeline, from_number=f"+1555000100{n}")
        assert assignments(pipeline, ticket.ticket_id)[0].agent_id == "ag-3"
    # Heartbeat timeout (120 s): ag-3 stops beating; ag-2 is back online later and beats.
    clock.set(MONDAY_OPEN + timedelta(minutes=5))
    presence(pipeline, "ag-2", at=MONDAY_OPEN + timedelta(minutes=5), applied_by=router)
    # Without the timeout ag-3 would take every other turn; timed out, it takes none.
    for n in range(2):
        ticket = new_ticket(pipeline, from_number=f"+1555000101{n}")
        assert assignments(pipeline, ticket.ticket_id)[0].agent_id == "ag-2"


def test_outside_hours_tickets_wait_then_go_out_in_arrival_order(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl) -> None:
    presence(pipeline, "ag-2")
    presence(pipeline, "ag-3", applied_by=router)
    clock.set(SATURDAY)
    waiting = [new_ticket(pipeline, from_number=f"+1555000200{n}") for n in range(4)]
    # Team routing happens (rule r1 -> shipping) but nobody is picked on a Saturday.
    for t in waiting:
        [change] = assignments(pipeline, t.ticket_id)
        assert (change.team_id, change.agent_id, change.method) == ("shipping", None, "rule")
    # Manual assignment works at any hour and does not move the rotation.
    command(pipeline, "assign", waiting[1].ticket_id, actor_id="ag-3",
            ticket_ids=[waiting[1].ticket_id], agent_id="ag-3")
    manual = assignments(pipeline, waiting[1].ticket_id, 2)[1]
    assert (manual.method, manual.agent_id, manual.actor_id) == ("manual", "ag-3", "ag-3")
    # Agents keep beating until Monday morning (their presence timeout is 120 s) ...
    just_before = NEXT_MONDAY_OPEN - timedelta(minutes=1)
    clock.set(just_before)
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, "heartbeat", at=just_before, applied_by=router)
    assert pipeline.redis.zcard(pipeline.keys.backlog("acme", "shipping")) == 3
    clock.set(NEXT_MONDAY_OPEN)  # ... and hours begin
    router.wait_for_log("hours began for acme: 3 waiting tickets assigned")
    drained = [assignments(pipeline, t.ticket_id, 2)[1] for t in (waiting[0], waiting[2],
                                                                  waiting[3])]
    assert [c.method for c in drained] == ["backlog"] * 3
    # Arrival order, same rotation (the manual assignment did not take ag-3's turn).
    assert [c.agent_id for c in drained] == ["ag-2", "ag-3", "ag-2"]
    assert pipeline.redis.zcard(pipeline.keys.backlog("acme", "shipping")) == 0


def test_waiting_tickets_go_to_an_agent_coming_online(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    waiting = [new_ticket(pipeline, from_number=f"+1555000300{n}") for n in range(2)]
    for t in waiting:
        assert assignments(pipeline, t.ticket_id)[0].agent_id is None
    presence(pipeline, "ag-3")
    changes = [assignments(pipeline, t.ticket_id, 2)[1] for t in waiting]
    assert [(c.agent_id, c.method) for c in changes] == [("ag-3", "backlog")] * 2


def test_manual_assignment_roles_and_accounts(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    a, b = (new_ticket(pipeline, from_number=f"+1555000400{n}") for n in range(2))
    assignments(pipeline, b.ticket_id)
    # bulk assign by a manager
    command(pipeline, "assign", "acme", actor_id="ag-3", ticket_ids=[a.ticket_id, b.ticket_id],
            agent_id="ag-1")
    for t in (a, b):
        change = assignments(pipeline, t.ticket_id, 2)[1]
        assert (change.agent_id, change.previous_agent_id, change.method) == (
            "ag-1", None, "manual")
    # reassign, then unassign ("no assignee")
    command(pipeline, "assign", a.ticket_id, actor_id="ag-1", ticket_ids=[a.ticket_id],
            agent_id="ag-2")
    assert assignments(pipeline, a.ticket_id, 3)[2].previous_agent_id == "ag-1"
    command(pipeline, "assign", a.ticket_id, actor_id="ag-1", ticket_ids=[a.ticket_id],
            agent_id=None)
    unassigned = assignments(pipeline, a.ticket_id, 4)[3]
    assert (unassigned.agent_id, unassigned.previous_agent_id) == (None, "ag-2")
    # refusals: analyst role; unknown target; another account's ticket; unknown actor
    assert "role 'analyst'" in rejected(pipeline, command(
        pipeline, "assign", a.ticket_id, actor_id="ag-9", ticket_ids=[a.ticket_id],
        agent_id="ag-1")).reason
    assert "is not an agent of account" in rejected(pipeline, command(
        pipeline, "assign", a.ticket_id, actor_id="ag-3", ticket_ids=[a.ticket_id],
        agent_id="ag-77")).reason
    # A1: a real ticket of another account cannot be touched from acme.
    since = len(router.lines)
    publish_accounts(pipeline.settings, [msgspec.structs.replace(acme, account_id="beta")])
    router.wait_for_log("account beta version 1 loaded", since=since)
    theirs = new_ticket(pipeline, account_id="beta", from_number="+15550004999")
    assignments(pipeline, theirs.ticket_id)  # routed (rule r1): the state to compare with
    beta_before = pipeline.ticket(theirs.ticket_id, "beta")
    refusal = rejected(pipeline, command(
        pipeline, "assign", theirs.ticket_id, account_id="acme", actor_id="ag-3",
        ticket_ids=[theirs.ticket_id], agent_id="ag-1"))
    assert "ticket not found" in refusal.reason and refusal.ticket_id == theirs.ticket_id
    assert "is not an agent" in rejected(pipeline, command(
        pipeline, "transfer", a.ticket_id, actor_id="intruder", ticket_id=a.ticket_id,
        team_id="billing")).reason
    # the refused commands changed nothing
    assert pipeline.ticket(a.ticket_id).get("agent_id") is None
    history = pipeline.redis.lrange(pipeline.keys.history("acme", a.ticket_id), 0, -1)
    assert len(history) == 4
    assert pipeline.ticket(theirs.ticket_id, "beta") == beta_before


def test_transfer_clears_agent_and_notifies_the_team(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    presence(pipeline, "ag-3", applied_by=router)
    ticket = new_ticket(pipeline)
    assert assignments(pipeline, ticket.ticket_id)[0].agent_id == "ag-3"
    command(pipeline, "transfer", ticket.ticket_id, actor_id="ag-3", ticket_id=ticket.ticket_id,
            team_id="billing")
    change = assignments(pipeline, ticket.ticket_id, 2)[1]
    assert (change.method, change.team_id, change.agent_id, change.previous_team_id,
            change.previous_agent_id) == ("transfer", "billing", None, "shipping", "ag-3")
    # Notifications are keyed by agent, so each agent's may sit on another partition: wait
    # for the whole team rather than for the first one seen.
    def billing(rs: list) -> set[str]:
        return {n.agent_id for n in rs if n.kind == "team_new_ticket"
                and n.ticket_id == ticket.ticket_id}
    pipeline.tail("notifications").wait_for(lambda rs: {"ag-1", "ag-2"} <= billing(rs),
                                            what="billing's ag-1 and ag-2 notified")


def test_reply_claims_unassigned_ticket_and_starts_countdown_once(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    ticket = new_ticket(pipeline)  # nobody online: waits unassigned in shipping
    assert assignments(pipeline, ticket.ticket_id)[0].agent_id is None
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-2", ticket_id=ticket.ticket_id,
            author_kind="agent", text="On it")
    claim = assignments(pipeline, ticket.ticket_id, 2)[1]
    assert (claim.method, claim.agent_id, claim.actor_id) == ("reply", "ag-2", "ag-2")
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-1", ticket_id=ticket.ticket_id,
            author_kind="agent", text="Me too")
    command(pipeline, "reply", ticket.ticket_id, actor_id="bot", ticket_id=ticket.ticket_id,
            author_kind="ai", text="Anything else?")
    messages = pipeline.events.wait_for(lambda rs: sum(
        getattr(r, "direction", None) == "outbound" for r in rs) >= 3)
    outbound = [m for m in messages if getattr(m, "direction", None) == "outbound"]
    assert [(m.author_kind, m.author_id) for m in outbound] == [
        ("agent", "ag-2"), ("agent", "ag-1"), ("ai", "bot")]
    starts = [t for t in pipeline.tail("timers").drain() if isinstance(t, CountdownStart)]
    assert [(s.ticket_id, s.version) for s in starts] == [(ticket.ticket_id, 1)]
    assert pipeline.ticket(ticket.ticket_id)["agent_id"] == "ag-2"  # the 2nd reply didn't claim
    # After the customer answers, the next agent reply starts a new countdown (C2, C5).
    again = sms(from_number=ticket.customer.phone)
    pipeline.publish("inbound.sms", again.from_number, again)
    note = pipeline.tail("notifications").wait_for(lambda rs: any(
        n.kind == "customer_replied" for n in rs))
    assert [(n.agent_id, n.channels) for n in note if n.kind == "customer_replied"] == [
        ("ag-2", ["in_app"])]
    command(pipeline, "reply", ticket.ticket_id, actor_id="ag-2", ticket_id=ticket.ticket_id,
            author_kind="agent", text="Here")
    starts = pipeline.tail("timers").wait_for(lambda rs: sum(
        isinstance(t, CountdownStart) for t in rs) >= 2)
    assert [s.version for s in starts if isinstance(s, CountdownStart)] == [1, 2]


def test_status_changes_views_overview_and_reopen_notice(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    presence(pipeline, "ag-3", applied_by=router)
    mine, other = (new_ticket(pipeline, from_number=f"+1555000500{n}") for n in range(2))
    assert assignments(pipeline, mine.ticket_id)[0].agent_id == "ag-3"
    assert assignments(pipeline, other.ticket_id)[0].agent_id == "ag-3"
    command(pipeline, "assign", other.ticket_id, actor_id="ag-3",
            ticket_ids=[other.ticket_id], agent_id=None)
    assignments(pipeline, other.ticket_id, 2)
    command(pipeline, "set_status", mine.ticket_id, actor_id="ag-3", ticket_id=mine.ticket_id,
            status="closed")
    closed = pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketStatus) for r in rs))
    change = [r for r in closed if isinstance(r, TicketStatus)][0]
    assert (change.previous_status, change.status, change.reason) == ("open", "closed", "agent")

    env = pipeline.settings.to_env()
    run = CliRunner().invoke
    def lines(*args: str) -> list[dict]:
        result = run(main, ["tickets", "--account", "acme", "--json", *args], env=env)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [r["ticket_id"] for r in lines("--view", "all")] == [other.ticket_id]
    assert [r["ticket_id"] for r in lines("--view", "unassigned")] == [other.ticket_id]
    assert lines("--view", "mine", "--agent", "ag-3") == []
    closed_mine = lines("--view", "mine", "--agent", "ag-3", "--status", "closed")
    assert [r["ticket_id"] for r in closed_mine] == [mine.ticket_id]
    assert closed_mine[0]["channel"] == "sms" and closed_mine[0]["customer_ticket_count"] == 1
    assert lines("--view", "all", "--channel", "email") == []
    assert len(lines("--status", "open", "--status", "closed", "--team", "shipping")) == 2
    shown = run(main, ["ticket", "show", mine.ticket_id, "--account", "acme"], env=env)
    overview = json.loads(shown.output[shown.output.index("{"):])
    assert overview["ticket"]["status"] == "closed" and overview["ticket"]["number"] == 1
    assert [h["method"] for h in overview["history"]] == ["round_robin"]
    missing = run(main, ["ticket", "show", mine.ticket_id, "--account", "beta"], env=env)
    assert missing.exit_code == 1  # A1: another account cannot read it

    # The customer writes again: the closed SMS ticket reopens and its agent hears of it.
    again = sms(from_number=mine.customer.phone)
    pipeline.publish("inbound.sms", again.from_number, again)
    notes = pipeline.tail("notifications").wait_for(
        lambda rs: any(n.kind == "reopened" for n in rs))
    assert [(n.agent_id, n.ticket_id) for n in notes if n.kind == "reopened"] == [
        ("ag-3", mine.ticket_id)]
    assert {n.kind for n in notes if isinstance(n, Notification)} >= {
        "assigned", "team_new_ticket", "reopened"}
    assert any(isinstance(r, TicketAssigned) for r in pipeline.events.records)
