"""R11-R15: the account document's load-aware routing fields are optional, and every bad
value is refused naming its field, in the words every refusal uses (`field <path>: ...`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from schemas.codec import DecodeError, decode, encode
from schemas.config import AccountDocument, Capacity, load_account_yaml
from schemas.events import TicketAssigned
from workers.cli import main

ACCOUNTS = Path(__file__).resolve().parents[2] / "deploy" / "accounts"
AGENT = {"id": "ag-1", "name": "Kris", "email": "kris@acme.example", "role": "support"}
RULE = {"id": "r1", "name": "r", "trigger": "ticket_created", "groups": [], "actions": {}}


def _document(agent: dict[str, object] | None = None, rule: dict[str, object] | None = None,
              **fields: object) -> bytes:
    doc: dict[str, object] = {"account_id": "acme", "version": 1,
                              "agents": [{**AGENT, **(agent or {})}], **fields}
    if rule is not None:
        doc["rules"] = [{**RULE, "actions": rule}]
    return json.dumps(doc).encode()


def test_a_document_without_the_fields_routes_as_today() -> None:
    doc = decode("accounts.config", _document(rule={"team_id": None}))
    assert doc.assignment_method == "round_robin"
    assert doc.reassign_offline_after_seconds is None
    agent = doc.agents[0]
    assert agent.capacity == Capacity() and agent.skills == {}
    assert [agent.capacity.on(c) for c in ("sms", "email", "webchat")] == [None, None, None]
    assert doc.rules[0].actions.priority is None and doc.rules[0].actions.skills == []


def test_defaults_encode_like_the_other_optional_fields_and_decode_back_equal() -> None:
    # Other optional fields (closed_retention_days, ai_actor_ids, ...) are written out with
    # their defaults; so are these, and the capacity mapping keeps only the channels set.
    doc = decode("accounts.config", _document(rule={}))
    raw = json.loads(encode(doc))
    assert raw["closed_retention_days"] is None and raw["ai_actor_ids"] == []
    assert raw["assignment_method"] == "round_robin"
    assert raw["reassign_offline_after_seconds"] is None
    assert raw["agents"][0]["capacity"] == {} and raw["agents"][0]["skills"] == {}
    assert raw["rules"][0]["actions"]["priority"] is None
    assert raw["rules"][0]["actions"]["skills"] == []
    assert decode("accounts.config", encode(doc)) == doc


def test_the_contract_example_decodes_and_round_trips() -> None:
    raw = _document(agent={"capacity": {"sms": 5, "email": 20, "webchat": 3},
                           "skills": {"fr": 3, "returns": 1}},
                    rule={"team_id": None, "agent_id": None, "priority": "urgent",
                          "skills": ["fr"]},
                    assignment_method="balanced", reassign_offline_after_seconds=300)
    doc = decode("accounts.config", raw)
    agent = doc.agents[0]
    assert (agent.capacity.on("sms"), agent.capacity.on("email"),
            agent.capacity.on("webchat")) == (5, 20, 3)
    assert agent.skills == {"fr": 3, "returns": 1}
    assert doc.assignment_method == "balanced" and doc.reassign_offline_after_seconds == 300
    assert doc.rules[0].actions.priority == "urgent" and doc.rules[0].actions.skills == ["fr"]
    assert json.loads(encode(doc))["agents"][0]["capacity"] == {"sms": 5, "email": 20,
                                                               "webchat": 3}
    assert decode("accounts.config", encode(doc)) == doc


def test_a_channel_left_out_is_unlimited_and_zero_is_kept() -> None:
    doc = decode("accounts.config", _document(agent={"capacity": {"webchat": 0, "sms": None}}))
    capacity = doc.agents[0].capacity
    assert (capacity.on("sms"), capacity.on("email"), capacity.on("webchat")) == (None, None, 0)
    assert json.loads(encode(doc))["agents"][0]["capacity"] == {"webchat": 0}


@pytest.mark.parametrize("raw,reason", [
    (_document(agent={"capacity": {"sms": -1}}), "field $.agents[0].capacity.sms: "),
    (_document(agent={"capacity": {"email": 1.5}}), "field $.agents[0].capacity.email: "),
    (_document(agent={"capacity": {"webchat": "3"}}), "field $.agents[0].capacity.webchat: "),
    (_document(agent={"capacity": {"sms": 100_001}}), "field $.agents[0].capacity.sms: "),
    (_document(agent={"capacity": {"fax": 2}}),
     "field $.agents[0].capacity: Object contains unknown field `fax`"),
    (_document(agent={"capacity": [5]}), "field $.agents[0].capacity: "),
    (_document(agent={"skills": {"fr": 7}}),
     "field $.agents[0]: skills.fr: level 7 is not an integer from 1 to 5"),
    (_document(agent={"skills": {"fr": 0}}),
     "field $.agents[0]: skills.fr: level 0 is not an integer from 1 to 5"),
    (_document(agent={"skills": {"fr": True}}), "field $.agents[0].skills[...]: "),
    (_document(agent={"skills": {"": 2}}), "field $.agents[0]: skills: skill name ''"),
    (_document(agent={"skills": ["fr"]}), "field $.agents[0].skills: "),
    (_document(agent={"skills": {f"s{i}": 1 for i in range(51)}}),
     "field $.agents[0].skills: "),
    (_document(assignment_method="fastest"), "field $.assignment_method: "),
    (_document(reassign_offline_after_seconds=0), "field $.reassign_offline_after_seconds: "),
    (_document(reassign_offline_after_seconds=-5), "field $.reassign_offline_after_seconds: "),
    (_document(reassign_offline_after_seconds="300"),
     "field $.reassign_offline_after_seconds: "),
    (_document(rule={"priority": "asap"}), "field $.rules[0].actions.priority: "),
    (_document(rule={"priority": "URGENT"}), "field $.rules[0].actions.priority: "),
    (_document(rule={"skills": "fr"}), "field $.rules[0].actions.skills: "),
    (_document(rule={"skills": [""]}), "field $.rules[0].actions.skills[0]: "),
    (_document(rule={"skills": [f"s{i}" for i in range(51)]}),
     "field $.rules[0].actions.skills: "),
])
def test_bad_values_are_refused_naming_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as refused:
        decode("accounts.config", raw)
    assert str(refused.value).startswith(reason), str(refused.value)
    assert refused.value.code == "invalid_field"


@pytest.mark.parametrize("old,new,field", [
    ("sms: 5, email: 20", "sms: -1, email: 20", r"\$\.agents\[0\]\.capacity\.sms: "),
    ("webchat: 0}", "fax: 0}", r"\$\.agents\[1\]\.capacity: .*`fax`"),
    ("skills: {fr: 3,", "skills: {fr: 7,", r"agents\[0\]: skills\.fr: level 7"),
    ("assignment_method: balanced", "assignment_method: fair", r"\$\.assignment_method: "),
    ("priority: urgent", "priority: asap", r"\$\.rules\[0\]\.actions\.priority: "),
    ("reassign_offline_after_seconds: 300", "reassign_offline_after_seconds: 0",
     r"\$\.reassign_offline_after_seconds: "),
])
def test_config_check_refuses_bad_values_naming_the_field(tmp_path: Path, old: str, new: str,
                                                          field: str) -> None:
    sample = (ACCOUNTS / "acme-balanced.yaml").read_text()
    assert old in sample
    bad = tmp_path / "bad.yaml"
    bad.write_text(sample.replace(old, new, 1))
    result = CliRunner().invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output
    assert re.search(field, result.output), result.output


def test_the_load_aware_sample_passes_config_check() -> None:
    result = CliRunner().invoke(main, ["config", "check", str(ACCOUNTS / "acme-balanced.yaml")])
    assert result.exit_code == 0, result.output
    assert "acme-balanced version 1: valid" in result.output
    doc = load_account_yaml((ACCOUNTS / "acme-balanced.yaml").read_text())
    assert doc.assignment_method == "balanced" and doc.reassign_offline_after_seconds == 300
    assert {a.id: a.capacity.on("webchat") for a in doc.agents} == {"ag-1": 3, "ag-2": 0,
                                                                    "ag-3": 4}
    assert [r.actions.priority for r in doc.rules] == ["urgent", "high", "low"]


def test_the_plain_sample_keeps_todays_routing() -> None:
    doc: AccountDocument = load_account_yaml((ACCOUNTS / "acme.yaml").read_text())
    assert doc.assignment_method == "round_robin" and doc.reassign_offline_after_seconds is None
    assert all(a.capacity == Capacity() and a.skills == {} for a in doc.agents)
    assert all(r.actions.priority is None and r.actions.skills == [] for r in doc.rules)


# --- ticket.assigned: method `balanced`, optional `priority` and `reason` ---------------

ASSIGNED = {"type": "ticket.assigned", "event_id": "e1", "account_id": "acme",
            "ticket_id": "t-1", "team_id": None, "agent_id": "ag-1", "previous_team_id": None,
            "previous_agent_id": None, "method": "round_robin", "actor_id": None,
            "rule_id": None, "at": "2026-11-22T10:00:00Z"}


def test_an_assignment_without_priority_or_reason_decodes_as_before() -> None:
    event = decode("tickets.events", json.dumps(ASSIGNED).encode())
    assert isinstance(event, TicketAssigned)
    assert event.priority is None and event.reason is None


@pytest.mark.parametrize("fields", [
    {"method": "balanced", "priority": "urgent"},
    {"method": "backlog", "priority": "low", "reason": "capacity_freed"},
    {"method": "backlog", "reason": "agent_online"},
    {"method": "backlog", "reason": "hours_opened"},
    {"method": "backlog", "priority": "normal", "reason": "agent_offline"},
])
def test_balanced_and_backlog_assignments_carry_priority_and_reason(
        fields: dict[str, str]) -> None:
    event = decode("tickets.events", json.dumps({**ASSIGNED, **fields}).encode())
    assert (event.method, event.priority, event.reason) == (
        fields["method"], fields.get("priority"), fields.get("reason"))
    assert decode("tickets.events", encode(event)) == event


@pytest.mark.parametrize("field,value", [
    ("method", "fastest"), ("priority", "asap"), ("reason", "bored")])
def test_unknown_assignment_values_are_refused_naming_the_field(field: str,
                                                                value: str) -> None:
    with pytest.raises(DecodeError, match=rf"^field \$\.{field}: "):
        decode("tickets.events", json.dumps({**ASSIGNED, field: value}).encode())
