"""Pure routing decisions: creation plans (R2, R4, R8), roles (A3), notifications (N1)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from schemas.config import AccountDocument, AgentConfig, load_account_yaml
from schemas.events import TicketAssigned
from workers.router.decide import (
    notifications_for_change,
    plan_new_ticket,
    refuse_assignment,
    refuse_reply,
    reply_claims,
)
from workers.router.rules import TicketFacts

ACME = load_account_yaml(
    (Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml").read_text())
AT = datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_plan_rotates_when_open_and_waits_when_closed() -> None:
    sms = TicketFacts(channel="sms")
    open_plan = plan_new_ticket(ACME, sms, open_now=True)
    assert (open_plan.mode, open_plan.team_id, open_plan.rule_id) == ("rotate", "shipping", "r1")
    assert open_plan.pool_agents == ["ag-2", "ag-3"]
    assert plan_new_ticket(ACME, sms, open_now=False).mode == "backlog"
    email = plan_new_ticket(ACME, TicketFacts(channel="email"), open_now=True)
    assert (email.team_id, email.pool, email.pool_agents) == (None, "_account",
                                                              ["ag-1", "ag-2", "ag-3"])
    manual_only = msgspec.structs.replace(ACME, round_robin=False)
    assert plan_new_ticket(manual_only, sms, open_now=True).mode == "none"


def test_solo_account_always_assigns_its_agent() -> None:
    solo = AccountDocument(account_id="s", version=1, agents=[
        AgentConfig(id="me", name="me", email="me@s.io", role="owner")])
    plan = plan_new_ticket(solo, TicketFacts(channel="email"), open_now=False)
    assert (plan.mode, plan.agent_id) == ("solo", "me")


def test_roles_come_from_the_account_document() -> None:
    assert refuse_assignment(ACME, "ag-1") is None
    assert refuse_assignment(ACME, "ag-3") is None
    assert "role 'analyst'" in refuse_assignment(ACME, "ag-9")  # type: ignore[operator]
    assert "not an agent" in refuse_assignment(ACME, "stranger")  # type: ignore[operator]


def test_an_ai_reply_comes_only_from_the_accounts_ai_actor() -> None:
    assert refuse_reply(ACME, "bot", "ai") is None
    assert refuse_reply(ACME, "intruder", "ai") == (
        "actor 'intruder' is not an AI agent of account 'acme'")
    assert refuse_reply(ACME, "ag-1", "ai") == "actor 'ag-1' is not an AI agent of account 'acme'"
    assert refuse_reply(ACME, "bot", "agent") == "actor 'bot' is not an agent of account 'acme'"
    beta = msgspec.structs.replace(ACME, account_id="beta", ai_actor_ids=["beta-bot"])
    assert refuse_reply(ACME, "beta-bot", "ai") is not None  # another account's AI
    assert refuse_reply(beta, "bot", "ai") is not None


def test_only_an_agent_whose_role_may_assign_claims_by_replying() -> None:
    assert reply_claims(ACME, "ag-2", "agent") and reply_claims(ACME, "ag-3", "agent")
    assert refuse_reply(ACME, "ag-9", "agent") is None  # an analyst may answer ...
    assert not reply_claims(ACME, "ag-9", "agent")  # ... but never becomes the assignee (A3)
    assert not reply_claims(ACME, "bot", "ai")  # R7: an AI reply never claims
    assert not reply_claims(ACME, "ag-2", "ai")


def test_an_ai_actor_id_may_not_also_be_an_agent() -> None:
    with pytest.raises(ValueError, match=r"ai_actor_ids\[1\]: 'ag-1' is also an agent"):
        msgspec.structs.replace(ACME, ai_actor_ids=["bot", "ag-1"])


def change(**fields: object) -> TicketAssigned:
    values: dict[str, object] = dict(
        event_id="e1", account_id="acme", ticket_id="t-1", team_id="billing", agent_id="ag-1",
        previous_team_id=None, previous_agent_id=None, method="round_robin", actor_id=None,
        rule_id=None, at=AT)
    values.update(fields)
    return TicketAssigned(**values)  # type: ignore[arg-type]


def test_notifications_name_enabled_channels() -> None:
    notes = notifications_for_change(ACME, change(), new_ticket=True)
    assert sorted((n.kind, n.agent_id, tuple(n.channels)) for n in notes) == [
        ("assigned", "ag-1", ("email", "in_app")),
        ("team_new_ticket", "ag-1", ("email", "in_app")),
        ("team_new_ticket", "ag-2", ("in_app",)),
    ]
    # A manual reassignment inside the same team tells only the new assignee.
    moved = notifications_for_change(ACME, change(previous_team_id="billing",
                                                  previous_agent_id="ag-1", agent_id="ag-2",
                                                  method="manual"), new_ticket=False)
    assert [(n.kind, n.agent_id) for n in moved] == [("assigned", "ag-2")]
    # Agents with no channel enabled get nothing (ag-9 enabled none).
    quiet = notifications_for_change(ACME, change(agent_id="ag-9", team_id=None), False)
    assert quiet == []
