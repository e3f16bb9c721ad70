"""Pure decisions for each command kind and for presence: refused, with the reason the
`command.rejected` event carries, or a plan of what to apply (R1, R3, R5-R7, A3).

Each function takes the account document, the decoded record and the facts the handler read
beforehand (the clock's now, the ticket's fields); none reads Redis or the clock itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from schemas.agent_app import (
    AssignCommand,
    Presence,
    PresenceStatus,
    ReplyCommand,
    SetStatusCommand,
    SetTagsCommand,
    TicketStatusName,
    TransferCommand,
)
from schemas.config import AccountDocument
from schemas.events import AssignMethod
from workers.router.decide import refuse_assignment, refuse_reply, reply_claims
from workers.router.rotation import pool_key, rotation_pool
from workers.router.rules import TicketFacts, route
from workers.runtime.ids import event_id
from workers.state.business_hours import is_open
from workers.state.keys import MarkKind

AssignMode = Literal["set_agent", "transfer", "claim", "route"]
"""How `assign.lua` changes responsibility (see the script's header)."""


class Refusal(msgspec.Struct, frozen=True):
    """A refused command or presence; `reason` goes verbatim into `command.rejected`."""

    reason: str


class AssignStep(msgspec.Struct, frozen=True, kw_only=True):
    """One responsibility change of one ticket, applied once by `assign.lua` under the
    mark `mark_kind`/`mark_parts` (`RouterStore.assign`)."""

    ticket_id: str
    mark_kind: MarkKind
    mark_parts: tuple[str, ...]
    mode: AssignMode
    actor: str | None
    method: AssignMethod
    team_id: str | None
    agent_id: str | None
    rule_id: str | None
    event_id: str
    at: datetime
    """The command's time: the change's `at`."""
    now: datetime
    """The clock's now: which agents count as online (presence timeout)."""
    pool: str | None = None
    """The rotation that picks the agent when none is named; None: no rotation."""
    pool_agents: list[str] = msgspec.field(default_factory=list)


class ReplyPlan(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted reply: recorded once under the mark `("reply", command_id)`."""

    ticket_id: str
    mark_parts: tuple[str, ...]
    may_claim: bool
    """Whether the author becomes the assignee of an unassigned ticket (R7)."""
    actor: str
    event_id: str
    """The id of the `ticket.assigned` a claim records."""
    at: datetime
    email_message_id: str


class StatusPlan(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted status change: applied once under the mark `("set_status", command_id)`."""

    ticket_id: str
    status: TicketStatusName
    mark_parts: tuple[str, ...]


class TagsRoute(msgspec.Struct, frozen=True, kw_only=True):
    """The responsibility change a `tags_changed` rule asks for (R1)."""

    step: AssignStep
    replay_only: bool
    """The ticket is already in the rule's team: apply the step only if its mark is set (a
    redelivery of the command that moved it there, which must publish that move again)."""


class PresencePlan(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted presence: store it, then drain these backlogs (R4)."""

    cause: str
    """The presence's own id: the drain mark's trigger."""
    agent_id: str
    status: PresenceStatus
    at: datetime
    drain_pools: list[str]


def _not_an_agent(account: AccountDocument, actor_id: str) -> Refusal | None:
    if account.agent(actor_id) is None:
        return Refusal(f"actor {actor_id!r} is not an agent of account {account.account_id!r}")
    return None


def _rotation(account: AccountDocument, team_id: str | None, now: datetime,
              ) -> tuple[str | None, list[str]]:
    """The pool that picks an agent now; with hours closed the pool and no agents, so the
    ticket waits in that pool's queue until they open (R4, R12); none with round robin off."""
    if not account.round_robin:
        return None, []
    if is_open(account.business_hours, now):
        return pool_key(team_id), rotation_pool(account, team_id)
    return pool_key(team_id), []


def decide_assign(account: AccountDocument, cmd: AssignCommand,
                  now: datetime) -> Refusal | list[AssignStep]:
    """R5: an assigning role (A3) sets, changes or clears the agent of each named ticket
    (a ticket named twice: once); the target must be an agent of the account."""
    reason = refuse_assignment(account, cmd.actor_id)
    if reason is not None:
        return Refusal(reason)
    if cmd.agent_id is not None and account.agent(cmd.agent_id) is None:
        return Refusal(f"agent {cmd.agent_id!r} is not an agent of account "
                       f"{account.account_id!r}")
    return [AssignStep(
        ticket_id=ticket_id, mark_kind="assign", mark_parts=(cmd.command_id, ticket_id),
        mode="set_agent", actor=cmd.actor_id, method="manual", team_id=None,
        agent_id=cmd.agent_id, rule_id=None,
        event_id=event_id("ticket.assigned", cmd.command_id, ticket_id), at=cmd.at, now=now)
        for ticket_id in dict.fromkeys(cmd.ticket_ids)]


def decide_transfer(account: AccountDocument, cmd: TransferCommand,
                    now: datetime) -> Refusal | AssignStep:
    """R6: an assigning role moves the ticket to a team of the account and clears its agent;
    the team's rotation picks one only if the team enables it and round robin is on, or
    the ticket waits in the team's queue (nobody eligible, or hours closed: R4, R12)."""
    reason = refuse_assignment(account, cmd.actor_id)
    if reason is not None:
        return Refusal(reason)
    team = next((t for t in account.teams if t.id == cmd.team_id), None)
    if team is None:
        return Refusal(f"team {cmd.team_id!r} is not a team of account {account.account_id!r}")
    pool, pool_agents = (_rotation(account, cmd.team_id, now) if team.auto_assign_on_transfer
                         else (None, []))
    return AssignStep(
        ticket_id=cmd.ticket_id, mark_kind="transfer", mark_parts=(cmd.command_id,),
        mode="transfer", actor=cmd.actor_id, method="transfer", team_id=cmd.team_id,
        agent_id=None, rule_id=None, event_id=event_id("ticket.assigned", cmd.command_id),
        at=cmd.at, now=now, pool=pool, pool_agents=pool_agents)


def decide_reply(account: AccountDocument, cmd: ReplyCommand) -> Refusal | ReplyPlan:
    """Who may reply as which kind of author (`refuse_reply`) and whether it claims (R7)."""
    reason = refuse_reply(account, cmd.actor_id, cmd.author_kind)
    if reason is not None:
        return Refusal(reason)
    return ReplyPlan(
        ticket_id=cmd.ticket_id, mark_parts=(cmd.command_id,),
        may_claim=reply_claims(account, cmd.actor_id, cmd.author_kind), actor=cmd.actor_id,
        event_id=event_id("ticket.assigned", cmd.command_id), at=cmd.at,
        email_message_id=f"<{event_id('reply', account.account_id, cmd.command_id)}"
                         "@ticketflow>")


def decide_set_status(account: AccountDocument, cmd: SetStatusCommand) -> Refusal | StatusPlan:
    """Any agent of the account (any role) may open, snooze or close a ticket."""
    refusal = _not_an_agent(account, cmd.actor_id)
    if refusal is not None:
        return refusal
    return StatusPlan(ticket_id=cmd.ticket_id, status=cmd.status,
                      mark_parts=(cmd.command_id,))


def refuse_set_tags(account: AccountDocument, cmd: SetTagsCommand) -> Refusal | None:
    """Any agent of the account (any role) may retag a ticket; the route follows once the
    ticket is read (`route_on_tags`)."""
    return _not_an_agent(account, cmd.actor_id)


def route_on_tags(account: AccountDocument, cmd: SetTagsCommand, facts: TicketFacts,
                  team_id: str | None, now: datetime) -> TagsRoute | None:
    """R1 on `tags_changed` for a ticket now in `team_id` with these facts (the new tags
    in them): the rule's team and agent, else that team's rotation when round robin is on
    (or its queue, R12); None when no rule matches."""
    decision = route(account, "tags_changed", facts)
    if decision is None:
        return None
    pool, pool_agents = (_rotation(account, decision.team_id, now)
                         if decision.agent_id is None else (None, []))
    step = AssignStep(
        ticket_id=cmd.ticket_id, mark_kind="set_tags", mark_parts=(cmd.command_id,),
        mode="route", actor=cmd.actor_id, method="rule", team_id=decision.team_id,
        agent_id=decision.agent_id, rule_id=decision.rule_id,
        event_id=event_id("ticket.assigned", cmd.command_id), at=cmd.at, now=now, pool=pool,
        pool_agents=pool_agents)
    return TagsRoute(step=step, replay_only=(decision.team_id == team_id
                                             and decision.agent_id is None))


def presence_cause(p: Presence) -> str:
    """A presence's own id (it has no command id): names its rejection and its drains."""
    return event_id("presence", p.account_id, p.agent_id, p.actor_id, p.status,
                    p.at.isoformat())


def decide_presence(account: AccountDocument, p: Presence,
                    now: datetime) -> Refusal | PresencePlan:
    """R3: an agent of the account sets only their own presence. Every sign of life (an
    `online`, or a heartbeat after Redis lost the agent or after a presence timeout) may
    bring the agent (back) online, so it drains the backlogs of the agent's teams and of the
    account when round robin is on and hours are open (R4)."""
    if p.actor_id != p.agent_id:
        return Refusal(f"actor {p.actor_id!r} may not set the presence of {p.agent_id!r}")
    agent = account.agent(p.agent_id)
    if agent is None:
        return Refusal(f"agent {p.agent_id!r} is not an agent of account "
                       f"{account.account_id!r}")
    pools: list[str] = []
    if p.status in ("online", "heartbeat") and account.round_robin and is_open(
            account.business_hours, now):
        pools = [pool_key(team) for team in agent.teams] + [pool_key(None)]
    return PresencePlan(cause=presence_cause(p), agent_id=p.agent_id, status=p.status,
                        at=p.at, drain_pools=pools)
