"""Automation rules and team routing (R1), as pure functions of a ticket's facts."""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.config import AccountDocument, Condition, Rule
from schemas.events import Priority

Trigger = Literal["ticket_created", "tags_changed"]


class TicketFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What rules may look at."""

    channel: str
    tags: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""


class RoutingDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Where a ticket goes: a team, optionally a named agent, and which rule said so."""

    team_id: str | None
    agent_id: str | None
    rule_id: str | None
    priority: Priority | None = None
    """The rule's queue priority (R12); None: `normal`."""
    skills: tuple[str, ...] = ()
    """The skills the rule requires of the ticket's agent (R14)."""


def condition_holds(condition: Condition, facts: TicketFacts) -> bool:
    """One condition. Lists (`tags`, `segments`) match on membership; text fields match
    case-insensitively; `in` on a text field means equal to one of the values."""
    values = [condition.value] if isinstance(condition.value, str) else condition.value
    if condition.field in ("tags", "segments"):
        have = {v.lower() for v in getattr(facts, condition.field)}
        return any(v.lower() in have for v in values)
    text = getattr(facts, condition.field).lower()
    if condition.op == "in":
        return text in {v.lower() for v in values}
    return any(v.lower() in text for v in values)  # contains, any_of


def rule_matches(rule: Rule, trigger: Trigger, facts: TicketFacts) -> bool:
    """Active, same trigger, and some group whose conditions all hold (AND in, OR across)."""
    return (rule.active and rule.trigger == trigger
            and any(all(condition_holds(c, facts) for c in group) for group in rule.groups))


def route(account: AccountDocument, trigger: Trigger, facts: TicketFacts) -> RoutingDecision | None:
    """The first matching rule in document order; else the first team whose tags or
    segments the ticket carries; else None."""
    for rule in account.rules:
        if rule_matches(rule, trigger, facts):
            return RoutingDecision(team_id=rule.actions.team_id, agent_id=rule.actions.agent_id,
                                   rule_id=rule.id, priority=rule.actions.priority,
                                   skills=tuple(rule.actions.skills))
    tags = {t.lower() for t in facts.tags}
    segments = {s.lower() for s in facts.segments}
    for team in account.teams:
        if tags & {t.lower() for t in team.tags} or segments & {s.lower() for s in team.segments}:
            return RoutingDecision(team_id=team.id, agent_id=None, rule_id=None)
    return None
