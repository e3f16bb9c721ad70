"""The router's per-command decisions (R1, R3, R5-R7, A3) and their translation into
published records (R9, N1), without a broker or Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from schemas.agent_app import (
    AssignCommand,
    Presence,
    ReplyCommand,
    SetStatusCommand,
    SetTagsCommand,
    TransferCommand,
)
from schemas.config import Condition, Rule, RuleActions, load_account_yaml
from schemas.events import (
    CommandRejected,
    Notification,
    TicketAssigned,
    TicketMessage,
    TicketStatus,
)
from schemas.internal import CountdownStart
from workers.router.commands import (
    AssignStep,
    PresencePlan,
    Refusal,
    ReplyPlan,
    StatusPlan,
    decide_assign,
    decide_presence,
    decide_reply,
    decide_set_status,
    decide_transfer,
    presence_cause,
    refuse_set_tags,
    route_on_tags,
)
from workers.router.outputs import (
    assignment_events,
    command_rejections,
    count_assignments,
    customer_replied,
    presence_rejection,
    reopened,
    reply_events,
    status_events,
)
from workers.router.rules import TicketFacts
from workers.runtime.ids import event_id
from workers.runtime.metrics import REGISTRY

ACME = load_account_yaml(
    (Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml").read_text())
OPEN = datetime(2026, 11, 23, 10, tzinfo=UTC)  # Monday 11:00 in Paris
CLOSED = datetime(2026, 11, 22, 10, tzinfo=UTC)  # Sunday
AT = datetime(2026, 11, 23, 9, 59, tzinfo=UTC)  # the command's own time

NOT_AN_AGENT = "actor 'stranger' is not an agent of account 'acme'"
ANALYST = "role 'analyst' of 'ag-9' may not assign tickets"


def assign(actor: str = "ag-1", agent: str | None = "ag-2",
           tickets: tuple[str, ...] = ("t-1",)) -> AssignCommand:
    return AssignCommand(command_id="c1", account_id="acme", actor_id=actor, at=AT,
                         ticket_ids=list(tickets), agent_id=agent)


def transfer(actor: str = "ag-3", team: str = "shipping") -> TransferCommand:
    return TransferCommand(command_id="c2", account_id="acme", actor_id=actor, at=AT,
                           ticket_id="t-1", team_id=team)


def reply(actor: str = "ag-2", kind: str = "agent") -> ReplyCommand:
    return ReplyCommand(command_id="c3", account_id="acme", actor_id=actor, at=AT,
                        ticket_id="t-1", author_kind=kind, text="on its way")  # type: ignore[arg-type]


def set_status(actor: str = "ag-9", status: str = "closed") -> SetStatusCommand:
    return SetStatusCommand(command_id="c4", account_id="acme", actor_id=actor, at=AT,
                            ticket_id="t-1", status=status)  # type: ignore[arg-type]


def set_tags(actor: str = "ag-9", tags: tuple[str, ...] = ("parcel",)) -> SetTagsCommand:
    return SetTagsCommand(command_id="c5", account_id="acme", actor_id=actor, at=AT,
                          ticket_id="t-1", tags=list(tags))


def presence(agent: str = "ag-2", actor: str | None = None,
             status: str = "online") -> Presence:
    return Presence(account_id="acme", agent_id=agent, actor_id=actor or agent,
                    status=status, at=AT)  # type: ignore[arg-type]


def change(**fields: object) -> TicketAssigned:
    values: dict[str, object] = dict(
        event_id="e1", account_id="acme", ticket_id="t-1", team_id="billing", agent_id="ag-1",
        previous_team_id="billing", previous_agent_id=None, method="manual", actor_id="ag-3",
        rule_id=None, at=AT)
    values.update(fields)
    return TicketAssigned(**values)  # type: ignore[arg-type]


# --- assign (R5, A3) -------------------------------------------------------------------------

@pytest.mark.parametrize(("cmd", "reason"), [
    (assign(actor="stranger"), NOT_AN_AGENT),
    (assign(actor="bot"), "actor 'bot' is not an agent of account 'acme'"),  # the AI
    (assign(actor="ag-9"), ANALYST),
    (assign(agent="ghost"), "agent 'ghost' is not an agent of account 'acme'"),
    (assign(agent="bot"), "agent 'bot' is not an agent of account 'acme'"),
    # The actor is checked first: a refused actor never learns whether the target exists.
    (assign(actor="ag-9", agent="ghost"), ANALYST),
])
def test_assign_refusals(cmd: AssignCommand, reason: str) -> None:
    assert decide_assign(ACME, cmd, OPEN) == Refusal(reason)


def test_assign_plans_one_manual_step_per_distinct_ticket() -> None:
    steps = decide_assign(ACME, assign(tickets=("t-1", "t-2", "t-1")), CLOSED)
    assert steps == [AssignStep(
        ticket_id=t, mark_kind="assign", mark_parts=("c1", t), mode="set_agent",
        actor="ag-1", method="manual", team_id=None, agent_id="ag-2", rule_id=None,
        event_id=event_id("ticket.assigned", "c1", t), at=AT, now=CLOSED, pool=None,
        pool_agents=[]) for t in ("t-1", "t-2")]  # manual: any hour, no rotation (R4)


def test_unassigning_is_an_assignment_to_nobody_and_any_assigning_role_may() -> None:
    steps = decide_assign(ACME, assign(actor="ag-3", agent=None), OPEN)
    assert isinstance(steps, list)
    assert [(s.agent_id, s.actor, s.mode) for s in steps] == [(None, "ag-3", "set_agent")]


# --- transfer (R6, A3) -----------------------------------------------------------------------

@pytest.mark.parametrize(("cmd", "reason"), [
    (transfer(actor="stranger"), NOT_AN_AGENT),
    (transfer(actor="ag-9"), ANALYST),
    (transfer(team="legal"), "team 'legal' is not a team of account 'acme'"),
    (transfer(actor="ag-9", team="legal"), ANALYST),
])
def test_transfer_refusals(cmd: TransferCommand, reason: str) -> None:
    assert decide_transfer(ACME, cmd, OPEN) == Refusal(reason)


def test_transfer_clears_the_agent_and_picks_none_unless_the_team_enables_it() -> None:
    step = decide_transfer(ACME, transfer(), OPEN)
    assert step == AssignStep(
        ticket_id="t-1", mark_kind="transfer", mark_parts=("c2",), mode="transfer",
        actor="ag-3", method="transfer", team_id="shipping", agent_id=None, rule_id=None,
        event_id=event_id("ticket.assigned", "c2"), at=AT, now=OPEN, pool=None, pool_agents=[])


def test_a_team_that_enables_it_rotates_on_transfer_or_waits_when_round_robin_is_on() -> None:
    teams = [msgspec.structs.replace(t, auto_assign_on_transfer=True) for t in ACME.teams]
    auto = msgspec.structs.replace(ACME, teams=teams)
    step = decide_transfer(auto, transfer(), OPEN)
    assert isinstance(step, AssignStep)
    assert (step.pool, step.pool_agents) == ("shipping", ["ag-2", "ag-3"])
    # R4: outside hours nobody is picked; the ticket waits in the team's queue (R12)
    closed = decide_transfer(auto, transfer(), CLOSED)
    assert isinstance(closed, AssignStep) and (closed.pool, closed.pool_agents) == (
        "shipping", [])
    manual = decide_transfer(msgspec.structs.replace(auto, round_robin=False), transfer(), OPEN)
    assert isinstance(manual, AssignStep) and (manual.pool, manual.pool_agents) == (None, [])


# --- reply (R7) ------------------------------------------------------------------------------

@pytest.mark.parametrize(("cmd", "reason"), [
    (reply(actor="stranger"), NOT_AN_AGENT),
    (reply(actor="bot", kind="agent"), "actor 'bot' is not an agent of account 'acme'"),
    (reply(actor="ag-1", kind="ai"), "actor 'ag-1' is not an AI agent of account 'acme'"),
    (reply(actor="stranger", kind="ai"), "actor 'stranger' is not an AI agent of account 'acme'"),
])
def test_reply_refusals(cmd: ReplyCommand, reason: str) -> None:
    assert decide_reply(ACME, cmd) == Refusal(reason)


def test_reply_plans_whether_it_claims() -> None:
    plan = decide_reply(ACME, reply())
    assert plan == ReplyPlan(
        ticket_id="t-1", mark_parts=("c3",), may_claim=True, actor="ag-2",
        event_id=event_id("ticket.assigned", "c3"), at=AT,
        email_message_id=f"<{event_id('reply', 'acme', 'c3')}@ticketflow>")
    analyst = decide_reply(ACME, reply(actor="ag-9"))  # answers, never claims (A3)
    ai = decide_reply(ACME, reply(actor="bot", kind="ai"))  # never claims (R7)
    assert isinstance(analyst, ReplyPlan) and not analyst.may_claim
    assert isinstance(ai, ReplyPlan) and not ai.may_claim


# --- set_status, set_tags (R1) ---------------------------------------------------------------

def test_any_agent_of_the_account_sets_a_status_and_tags() -> None:
    assert decide_set_status(ACME, set_status()) == StatusPlan(
        ticket_id="t-1", status="closed", mark_parts=("c4",))
    assert decide_set_status(ACME, set_status(actor="stranger")) == Refusal(NOT_AN_AGENT)
    assert decide_set_status(ACME, set_status(actor="bot")) == Refusal(
        "actor 'bot' is not an agent of account 'acme'")
    assert refuse_set_tags(ACME, set_tags()) is None
    assert refuse_set_tags(ACME, set_tags(actor="stranger")) == Refusal(NOT_AN_AGENT)


def test_new_tags_route_by_rule_or_team_and_rotate_when_open_else_wait() -> None:
    facts = TicketFacts(channel="email", tags=("parcel",))
    routed = route_on_tags(ACME, set_tags(), facts, team_id="billing", now=OPEN)
    assert routed is not None and not routed.replay_only
    assert routed.step == AssignStep(
        ticket_id="t-1", mark_kind="set_tags", mark_parts=("c5",), mode="route", actor="ag-9",
        method="rule", team_id="shipping", agent_id=None, rule_id=None,
        event_id=event_id("ticket.assigned", "c5"), at=AT, now=OPEN, pool="shipping",
        pool_agents=["ag-2", "ag-3"])
    closed = route_on_tags(ACME, set_tags(), facts, team_id="billing", now=CLOSED)
    assert closed is not None and (closed.step.pool, closed.step.pool_agents) == (
        "shipping", [])  # nobody picked outside hours: waits in shipping's queue
    assert route_on_tags(ACME, set_tags(tags=()), TicketFacts(channel="email"), "billing",
                         OPEN) is None


def test_already_in_the_rules_team_only_a_redelivery_applies_the_move() -> None:
    facts = TicketFacts(channel="email", tags=("parcel",))
    same = route_on_tags(ACME, set_tags(), facts, team_id="shipping", now=OPEN)
    assert same is not None and same.replay_only
    named = msgspec.structs.replace(ACME, rules=[*ACME.rules, Rule(
        id="parcels", name="parcels to Omar", trigger="tags_changed",
        groups=[[Condition(field="tags", op="any_of", value=["parcel"])]],
        actions=RuleActions(team_id="shipping", agent_id="ag-3"))])
    to_agent = route_on_tags(named, set_tags(), facts, team_id="shipping", now=OPEN)
    assert to_agent is not None and not to_agent.replay_only  # a named agent: always apply
    assert (to_agent.step.agent_id, to_agent.step.rule_id, to_agent.step.pool) == (
        "ag-3", "parcels", None)


# --- presence (R3, R4) -----------------------------------------------------------------------

def test_presence_refusals() -> None:
    assert decide_presence(ACME, presence(actor="ag-1"), OPEN) == Refusal(
        "actor 'ag-1' may not set the presence of 'ag-2'")
    assert decide_presence(ACME, presence(agent="ghost"), OPEN) == Refusal(
        "agent 'ghost' is not an agent of account 'acme'")
    # actor != agent is checked first, even for an unknown agent
    assert decide_presence(ACME, presence(agent="ghost", actor="ag-1"), OPEN) == Refusal(
        "actor 'ag-1' may not set the presence of 'ghost'")


def test_a_sign_of_life_drains_the_agents_teams_and_the_account_when_open() -> None:
    p = presence()
    assert decide_presence(ACME, p, OPEN) == PresencePlan(
        cause=presence_cause(p), agent_id="ag-2", status="online", at=AT,
        drain_pools=["billing", "shipping", "_account"])
    heartbeat = decide_presence(ACME, presence(agent="ag-9", status="heartbeat"), OPEN)
    assert isinstance(heartbeat, PresencePlan) and heartbeat.drain_pools == ["_account"]
    for quiet in (decide_presence(ACME, presence(status="offline"), OPEN),
                  decide_presence(ACME, presence(status="logout"), OPEN),
                  decide_presence(ACME, p, CLOSED),
                  decide_presence(msgspec.structs.replace(ACME, round_robin=False), p, OPEN)):
        assert isinstance(quiet, PresencePlan) and quiet.drain_pools == []


# --- translation into records (R9, N1) -------------------------------------------------------

def kinds(out: list) -> list[tuple[str, str, str]]:
    return [(o.topic, o.key, type(o.value).__name__ if not isinstance(o.value, Notification)
             else o.value.kind) for o in out]


def test_a_new_agent_yields_ticket_assigned_and_their_notification() -> None:
    out = assignment_events(ACME, change())
    assert kinds(out) == [("tickets.events", "t-1", "TicketAssigned"),
                          ("notifications", "ag-1", "assigned")]
    assert out[0].value == change()
    assert out[1].value.channels == ["email", "in_app"]


def test_an_unchanged_agent_or_no_change_notifies_nobody() -> None:
    same = change(previous_agent_id="ag-1", team_id="billing", rule_id="r9", method="rule")
    assert kinds(assignment_events(ACME, same)) == [("tickets.events", "t-1", "TicketAssigned")]
    assert assignment_events(ACME, None) == []
    assert assignment_events(ACME, "missing") == []


def test_a_transfer_or_a_new_ticket_tells_the_new_team() -> None:
    moved = change(team_id="shipping", previous_team_id="billing", agent_id=None,
                   previous_agent_id="ag-1", method="transfer")
    assert kinds(assignment_events(ACME, moved)) == [
        ("tickets.events", "t-1", "TicketAssigned"),
        ("notifications", "ag-2", "team_new_ticket"), ("notifications", "ag-3", "team_new_ticket")]
    created = change(previous_team_id=None, method="round_robin")
    assert [k for _, _, k in kinds(assignment_events(ACME, created, new_ticket=True))] == [
        "TicketAssigned", "team_new_ticket", "team_new_ticket", "assigned"]
    # A rule moving a ticket between teams is no new ticket and no transfer.
    assert [k for _, _, k in kinds(assignment_events(ACME, created))] == [
        "TicketAssigned", "assigned"]


def test_rejections_carry_the_reason_and_are_keyed_by_ticket_else_account() -> None:
    cmd = assign()
    out = command_rejections(ACME, cmd, ["t-1", "t-2"], "because")
    assert [(o.topic, o.key) for o in out] == [("tickets.events", "t-1"), ("tickets.events", "t-2")]
    assert out[0].value == CommandRejected(
        event_id=event_id("command.rejected", "acme", "c1", "t-1"), account_id="acme",
        command_id="c1", ticket_id="t-1", reason="because", at=AT)
    [none] = command_rejections(ACME, cmd, [None], "because")
    assert none.key == "acme" and none.value.ticket_id is None
    p = presence(actor="ag-1")
    refused = presence_rejection(ACME, p, "no")
    assert (refused.topic, refused.key) == ("tickets.events", "ag-2")
    assert refused.value == CommandRejected(
        event_id=event_id("command.rejected", "acme", presence_cause(p), None),
        account_id="acme", command_id=presence_cause(p), ticket_id=None, reason="no", at=AT)


def message(message_id: str = "m-2") -> TicketMessage:
    return TicketMessage(event_id="ev-m", account_id="acme", ticket_id="t-1",
                         message_id=message_id, direction="inbound", author_kind="customer",
                         author_id=None, text="where is it?", at=AT)


def test_a_customer_reply_tells_the_assignee_unless_it_opened_the_ticket() -> None:
    assert kinds(customer_replied(ACME, message(), "ag-2", "m-1")) == [
        ("notifications", "ag-2", "customer_replied")]
    assert customer_replied(ACME, message("m-1"), "ag-2", "m-1") == []
    assert customer_replied(ACME, message(), "", "m-1") == []  # unassigned
    assert customer_replied(ACME, message(), "ag-9", "m-1") == []  # no channel enabled


def test_a_reopened_ticket_tells_its_agent_else_its_team() -> None:
    ev = TicketStatus(event_id="ev-r", account_id="acme", ticket_id="t-1", status="open",
                      previous_status="closed", reason="reopened", at=AT)
    assert kinds(reopened(ACME, ev, "ag-1", "billing")) == [("notifications", "ag-1", "reopened")]
    assert [o.key for o in reopened(ACME, ev, None, "billing")] == ["ag-1", "ag-2"]
    assert reopened(ACME, ev, None, None) == []


def test_a_reply_yields_its_message_its_claim_and_its_countdown() -> None:
    cmd = reply()
    plan = decide_reply(ACME, cmd)
    assert isinstance(plan, ReplyPlan)
    claim = change(agent_id="ag-2", method="reply", actor_id="ag-2")
    out = reply_events(ACME, cmd, plan, claim, countdown_version=7)
    assert kinds(out) == [("tickets.events", "t-1", "TicketMessage"),
                          ("tickets.events", "t-1", "TicketAssigned"),
                          ("notifications", "ag-2", "assigned"),
                          ("timers", "t-1", "CountdownStart")]
    assert out[0].value == TicketMessage(
        event_id=event_id("ticket.message", "c3"), account_id="acme", ticket_id="t-1",
        message_id=plan.email_message_id, direction="outbound", author_kind="agent",
        author_id="ag-2", text="on its way", at=AT)
    assert out[3].value == CountdownStart(
        event_id=event_id("countdown.start", "c3"), account_id="acme", ticket_id="t-1",
        version=7, started_at=AT)
    assert kinds(reply_events(ACME, cmd, plan, None, None)) == [
        ("tickets.events", "t-1", "TicketMessage")]


def test_a_status_command_yields_a_change_only() -> None:
    cmd = set_status(status="closed")
    assert status_events(ACME, cmd, "closed") == []
    [out] = status_events(ACME, cmd, "open")
    assert out.value == TicketStatus(
        event_id=event_id("ticket.status", "c4"), account_id="acme", ticket_id="t-1",
        status="closed", previous_status="open", reason="agent", at=AT)


def test_only_a_new_agent_counts_as_an_assignment() -> None:
    labels = {"account": "acme", "agent": "ag-3", "method": "backlog"}
    before = REGISTRY.get_sample_value("ticketflow_assignments_total", labels) or 0.0
    count_assignments("acme", [change(agent_id="ag-3", method="backlog"), None, "missing",
                               change(agent_id="ag-3", previous_agent_id="ag-3",
                                      method="backlog")])
    assert REGISTRY.get_sample_value("ticketflow_assignments_total", labels) == before + 1
