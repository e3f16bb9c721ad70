"""R1 rules as pure logic: order, active flag, triggers, AND within groups, OR across."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.config import (
    AccountDocument,
    AgentConfig,
    Condition,
    Rule,
    RuleActions,
    TeamConfig,
)
from workers.router.rules import TicketFacts, condition_holds, route


def rule(rule_id: str, groups: list[list[Condition]], team: str = "t1", agent: str | None = None,
         trigger: str = "ticket_created", active: bool = True) -> Rule:
    return Rule(id=rule_id, name=rule_id, trigger=trigger, groups=groups, active=active,  # type: ignore[arg-type]
                actions=RuleActions(team_id=team, agent_id=agent))


def account(*rules: Rule) -> AccountDocument:
    agents = [AgentConfig(id="ag", name="Ag", email="ag@a.io", role="support")]
    return AccountDocument(account_id="a", version=1, rules=list(rules), agents=agents, teams=[
        TeamConfig(id="t1", name="T1"), TeamConfig(id="t2", name="T2", tags=["refund"]),
        TeamConfig(id="t3", name="T3", segments=["vip"])])


SMS = TicketFacts(channel="sms", tags=("Refund",), segments=("vip",), body="Where is it")


def c(field: str, op: str, value: object) -> Condition:
    return Condition(field=field, op=op, value=value)  # type: ignore[arg-type]


def test_conditions() -> None:
    assert condition_holds(c("channel", "in", ["email", "sms"]), SMS)
    assert not condition_holds(c("channel", "in", ["email"]), SMS)
    assert condition_holds(c("tags", "contains", "refund"), SMS)  # case-insensitive
    assert condition_holds(c("tags", "any_of", ["x", "refund"]), SMS)
    assert not condition_holds(c("segments", "any_of", ["new"]), SMS)
    assert condition_holds(c("body", "contains", "WHERE"), SMS)
    assert condition_holds(c("body", "any_of", ["nope", "is it"]), SMS)
    assert not condition_holds(c("subject", "contains", "x"), SMS)


def test_first_active_match_wins_and_trigger_must_match() -> None:
    doc = account(
        rule("inactive", [[c("channel", "in", ["sms"])]], team="t2", active=False),
        rule("retag", [[c("channel", "in", ["sms"])]], team="t2", trigger="tags_changed"),
        rule("first", [[c("channel", "in", ["sms"])]], team="t1", agent="ag"),
        rule("second", [[c("channel", "in", ["sms"])]], team="t2"),
    )
    decision = route(doc, "ticket_created", SMS)
    assert decision is not None
    assert (decision.rule_id, decision.team_id, decision.agent_id) == ("first", "t1", "ag")
    assert route(doc, "tags_changed", SMS).rule_id == "retag"  # type: ignore[union-attr]


def test_and_inside_groups_or_across() -> None:
    both = [c("channel", "in", ["sms"]), c("tags", "contains", "missing")]
    doc = account(rule("r", [both]))
    assert route(doc, "ticket_created", SMS).rule_id is None  # type: ignore[union-attr]
    doc = account(rule("r", [both, [c("segments", "any_of", ["vip"])]]))
    assert route(doc, "ticket_created", SMS).rule_id == "r"  # type: ignore[union-attr]


def test_team_conditions_after_rules_in_team_order() -> None:
    decision = route(account(), "ticket_created", SMS)
    assert decision is not None and (decision.team_id, decision.rule_id) == ("t2", None)
    plain = TicketFacts(channel="email")
    assert route(account(), "ticket_created", plain) is None


@given(st.lists(st.sampled_from(["a", "b", "c", "refund"]), max_size=4),
       st.lists(st.sampled_from(["vip", "new"]), max_size=2))
def test_a_matching_group_always_matches_whatever_the_other_groups(tags: list[str],
                                                                  segments: list[str]) -> None:
    facts = TicketFacts(channel="webchat", tags=tuple(tags), segments=tuple(segments))
    never = [c("channel", "in", ["fax"])]
    always = [c("channel", "in", ["webchat"])]
    assert route(account(rule("r", [never, always])), "ticket_created", facts).rule_id == "r"  # type: ignore[union-attr]
