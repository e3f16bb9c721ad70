"""The account's load-aware settings as the router's Lua reads them (`routing_of`)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.config import load_account_yaml
from workers.router.decide import plan_new_ticket
from workers.router.rules import TicketFacts
from workers.router.store import routing_of

ACCOUNTS = Path(__file__).resolve().parents[2] / "deploy" / "accounts"


def test_a_document_without_load_aware_fields_gives_the_lua_nothing_to_bound() -> None:
    acme = load_account_yaml((ACCOUNTS / "acme.yaml").read_text())
    assert json.loads(routing_of(acme)) == {"method": "round_robin", "solo": False,
                                            "agents": {}}
    plan = plan_new_ticket(acme, TicketFacts(channel="sms"), open_now=True)
    assert (plan.priority, plan.skills) == ("", [])


def test_capacities_skills_and_method_reach_the_lua() -> None:
    account = load_account_yaml((ACCOUNTS / "acme-balanced.yaml").read_text())
    routing = json.loads(routing_of(account))
    assert routing["method"] == "balanced"
    assert routing["agents"]["ag-1"] == {"capacity": {"sms": 5, "email": 20, "webchat": 3},
                                         "skills": ["fr", "returns"]}
    assert routing["agents"]["ag-2"] == {"capacity": {"sms": 5, "webchat": 0},
                                         "skills": ["returns"]}
    vip = plan_new_ticket(account, TicketFacts(channel="sms", segments=("vip",)), open_now=True)
    assert (vip.mode, vip.team_id, vip.priority, vip.skills) == (
        "rotate", "billing", "urgent", ["fr"])
