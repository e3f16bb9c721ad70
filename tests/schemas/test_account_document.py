"""A2/A4: the account document's validation names the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.config import ASSIGNING_ROLES, AccountDocument, load_account_yaml

SAMPLE = (Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml").read_text()


def test_sample_document_is_valid_and_keeps_clock_times_as_text() -> None:
    doc = load_account_yaml(SAMPLE)
    assert doc.business_hours is not None
    assert doc.business_hours.weekly["mon"] == [("09:00", "18:00")]  # not YAML 1.1's 1080
    assert doc.auto_close.days == 2 and doc.auto_close.typing_grace_seconds == 300
    assert doc.agent("ag-9") is not None and not doc.agent("ag-9").may_assign


def test_defaults() -> None:
    doc = msgspec.convert({"account_id": "solo", "version": 0}, AccountDocument)
    assert (doc.auto_close.enabled, doc.auto_close.days) == (False, 2)
    assert doc.business_hours is None and doc.handoff.method == "internal"


@pytest.mark.parametrize("change,field", [
    ("days: 2,", None),
    ("days: 0,", "auto_close.days"),
    ("days: 91,", "auto_close.days"),
    ("days: 90,", None),
    ("days: 1,", None),
])
def test_auto_close_period_is_one_to_ninety_days(change: str, field: str | None) -> None:
    text = SAMPLE.replace("days: 2,", change)
    if field is None:
        load_account_yaml(text)
    else:
        with pytest.raises(msgspec.ValidationError, match=field.replace(".", r"\.")):
            load_account_yaml(text)


@pytest.mark.parametrize("old,new,message", [
    ("teams: [billing], notify: [email", "teams: [nope], notify: [email",
     r"agents\[0\]\.teams: unknown team 'nope'"),
    ("Europe/Paris", "Mars/Olympus", "timezone: unknown IANA time zone"),
    ('["09:00", "18:00"]', '["18:00", "09:00"]', "must end after it starts"),
    ('["09:00", "18:00"]', '["9am", "18:00"]', r"\$\.business_hours\.weekly"),
    ("actions: {team_id: shipping", "actions: {team_id: nowhere",
     r"rules\[0\]\.actions\.team_id: unknown team"),
    ("op: in, value: [sms]", "op: in, value: sms", "op 'in' needs a list"),
    ("trigger: ticket_created", "trigger: on_tuesday", r"\$\.rules\[0\]\.trigger"),
    ("handoff: {method: internal}", "handoff: {method: zendesk}", "subdomain: required"),
    ("handoff: {method: internal}", "handoff: {method: message}", "message: required"),
    ("handoff: {method: internal}",
     "handoff: {method: zendesk, subdomain: acme, email: a@b.c, token_env: 'abc-123 secret'}",
     r"\$\.handoff\.token_env"),
    ("id: ag-2,", "id: ag-1,", r"agents\[1\]\.id: duplicate id"),
    ("account_id: acme", "account_id: '{acme}'", r"\$\.account_id"),
])
def test_invalid_documents_are_refused_naming_the_field(old: str, new: str,
                                                       message: str) -> None:
    assert old in SAMPLE
    with pytest.raises(msgspec.ValidationError, match=message):
        load_account_yaml(SAMPLE.replace(old, new, 1))


def test_assigning_roles() -> None:
    assert ASSIGNING_ROLES == {"owner", "admin", "manager", "support"}
