"""Pure routing decisions: what to do with a new ticket, who may run which command,
and who hears about it (R1-R8, A3, N1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from schemas.config import AccountDocument
from schemas.events import (
    Notification,
    NotificationKind,
    TicketAssigned,
    TicketMessage,
    TicketStatus,
)
from workers.router.rotation import pool_key, rotation_pool
from workers.router.rules import TicketFacts, route
from workers.runtime.ids import event_id

CreationMode = Literal["solo", "rule_agent", "rotate", "backlog", "none"]


class CreationPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How a new ticket is routed; executed atomically by `route_new.lua`."""

    mode: CreationMode
    team_id: str | None
    agent_id: str | None
    rule_id: str | None
    pool: str
    pool_agents: list[str]
    priority: str = ""
    """The rule's queue priority (R12), '' for none (`normal`)."""
    skills: list[str] = msgspec.field(default_factory=list)
    """The skills the rule requires of the ticket's agent (R14)."""


def plan_new_ticket(account: AccountDocument, facts: TicketFacts, open_now: bool) -> CreationPlan:
    """Solo account (R8) -> that agent; a rule naming an agent -> that agent; else round
    robin (or balanced, R13) among the team's (or account's) eligible agents when hours are
    open (R2, R4, R11, R14), or wait in the queue (R12); with round robin off the ticket
    stays unassigned. The rule's priority and skills go with the plan."""
    decision = route(account, "ticket_created", facts)
    team = decision.team_id if decision else None
    rule_id = decision.rule_id if decision else None
    pool = pool_key(team)
    wants = {"priority": (decision.priority or "") if decision else "",
             "skills": list(decision.skills) if decision else []}
    if len(account.agents) == 1:
        return CreationPlan(mode="solo", team_id=team, agent_id=account.agents[0].id,
                            rule_id=rule_id, pool=pool, pool_agents=[], **wants)
    if decision is not None and decision.agent_id is not None:
        return CreationPlan(mode="rule_agent", team_id=team, agent_id=decision.agent_id,
                            rule_id=rule_id, pool=pool, pool_agents=[], **wants)
    if account.round_robin:
        return CreationPlan(mode="rotate" if open_now else "backlog", team_id=team,
                            agent_id=None, rule_id=rule_id, pool=pool,
                            pool_agents=rotation_pool(account, team), **wants)
    return CreationPlan(mode="none", team_id=team, agent_id=None, rule_id=rule_id, pool=pool,
                        pool_agents=[], **wants)


def refuse_assignment(account: AccountDocument, actor_id: str) -> str | None:
    """Why the actor may not assign or transfer tickets (A3), or None if they may.

    The role comes from the account document, never from the command."""
    actor = account.agent(actor_id)
    if actor is None:
        return f"actor {actor_id!r} is not an agent of account {account.account_id!r}"
    if not actor.may_assign:
        return f"role {actor.role!r} of {actor_id!r} may not assign tickets"
    return None


def refuse_reply(account: AccountDocument, actor_id: str,
                 author_kind: Literal["agent", "ai"]) -> str | None:
    """Why the actor may not reply as this kind of author, or None if they may.

    Like a role (A3), what an author is comes from the account document, never from the
    command: an `ai` reply only from the account's AI actor ids, an `agent` reply only from
    its agents (any role: a read-only role may answer a customer, it just never claims)."""
    if author_kind == "ai":
        if not account.is_ai_actor(actor_id):
            return f"actor {actor_id!r} is not an AI agent of account {account.account_id!r}"
        return None
    if account.agent(actor_id) is None:
        return f"actor {actor_id!r} is not an agent of account {account.account_id!r}"
    return None


def reply_claims(account: AccountDocument, actor_id: str,
                 author_kind: Literal["agent", "ai"]) -> bool:
    """Whether this reply makes its author the assignee of an unassigned ticket (R7): only
    an agent whose role may assign (A3); never the AI."""
    agent = account.agent(actor_id)
    return author_kind == "agent" and agent is not None and agent.may_assign


def notify(account: AccountDocument, agent_ids: list[str], kind: NotificationKind,
           ticket_id: str, cause: str, at: datetime) -> list[Notification]:
    """One notification per agent that enabled at least one delivery channel (N1)."""
    out = []
    for agent_id in dict.fromkeys(agent_ids):
        agent = account.agent(agent_id)
        if agent is None or not agent.notify:
            continue
        out.append(Notification(
            event_id=event_id("notification", kind, agent_id, ticket_id, cause),
            account_id=account.account_id, agent_id=agent_id, kind=kind, ticket_id=ticket_id,
            channels=list(agent.notify), at=at))
    return out


def team_members(account: AccountDocument, team_id: str | None) -> list[str]:
    """Every agent of a team (notifications go to all of them, online or not)."""
    if team_id is None:
        return []
    return [a.id for a in account.agents if team_id in a.teams]


def notifications_for_change(account: AccountDocument, change: TicketAssigned,
                             new_ticket: bool) -> list[Notification]:
    """N1 for one responsibility change: the new assignee; the team on a new ticket or a
    transfer."""
    out: list[Notification] = []
    if change.team_id and change.team_id != change.previous_team_id and (
            new_ticket or change.method == "transfer"):
        out += notify(account, team_members(account, change.team_id), "team_new_ticket",
                      change.ticket_id, change.event_id, change.at)
    if change.agent_id and change.agent_id != change.previous_agent_id:
        out += notify(account, [change.agent_id], "assigned", change.ticket_id,
                      change.event_id, change.at)
    return out


def customer_reply_notifications(account: AccountDocument, ev: TicketMessage, agent_id: str,
                                 opening_message_id: str) -> list[Notification]:
    """N1 for a customer message: the ticket's assignee, unless there is none or the
    message is the one that opened the ticket."""
    if not agent_id or opening_message_id == ev.message_id:
        return []
    return notify(account, [agent_id], "customer_replied", ev.ticket_id, ev.event_id, ev.at)


def reopened_notifications(account: AccountDocument, ev: TicketStatus, agent_id: str | None,
                           team_id: str | None) -> list[Notification]:
    """N1 for a reopened ticket: its assignee, else every agent of its team."""
    audience = [agent_id] if agent_id else team_members(account, team_id)
    return notify(account, audience, "reopened", ev.ticket_id, ev.event_id, ev.at)
