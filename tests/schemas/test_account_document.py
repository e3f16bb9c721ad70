"""A2/A4: the account document's validation names the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.codec import DecodeError, decode
from schemas.config import (
    ASSIGNING_ROLES,
    AccountDocument,
    check_helpdesk_host,
    load_account_yaml,
    secret_prefix,
)

SAMPLE = (Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml").read_text()


def test_sample_document_is_valid_and_keeps_clock_times_as_text() -> None:
    doc = load_account_yaml(SAMPLE)
    assert doc.business_hours is not None
    assert doc.business_hours.weekly["mon"] == [("09:00", "18:00")]  # not YAML 1.1's 1080
    assert doc.auto_close.days == 2 and doc.auto_close.typing_grace_seconds == 300
    assert doc.agent("ag-9") is not None and not doc.agent("ag-9").may_assign


def test_the_samples_helpdesk_example_is_valid() -> None:
    example = next(line for line in SAMPLE.splitlines() if line.startswith("#handoff:"))
    doc = load_account_yaml(SAMPLE.replace("handoff: {method: internal}", example[1:]))
    assert doc.handoff.token_env == "TICKETFLOW_SECRET_ACME_ZENDESK"


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


# --- the version bound (issue 12, 11) -------------------------------------------------

@pytest.mark.parametrize("version,refused", [
    (0, False), (2**63 - 1, False), (2**63, True), (10**400, True), (-1, True)])
def test_version_is_bounded_so_no_document_freezes_its_account(version: int,
                                                               refused: bool) -> None:
    raw = b'{"account_id": "acme", "version": ' + str(version).encode() + b"}"
    if not refused:
        assert decode("accounts.config", raw).version == version
        return
    with pytest.raises(DecodeError, match=r"field \$\.version: "):
        decode("accounts.config", raw)


# --- helpdesk secrets: the account's own variables only (issue 12, 7) -------------------

def _handoff(account_id: str = "acme", **handoff: object) -> dict[str, object]:
    return {"account_id": account_id, "version": 1, "handoff": handoff}


@pytest.mark.parametrize("account_id,prefix", [
    ("acme", "TICKETFLOW_SECRET_ACME_"),
    ("acme-eu.2", "TICKETFLOW_SECRET_ACME_EU_2_"),
    ("Shop_x", "TICKETFLOW_SECRET_SHOP_X_"),
])
def test_secret_prefix_is_the_account_id_upper_cased(account_id: str, prefix: str) -> None:
    assert secret_prefix(account_id) == prefix


@pytest.mark.parametrize("handoff", [
    dict(method="zendesk", subdomain="acme", email="a@b.c",
         token_env="TICKETFLOW_SECRET_ACME_ZENDESK"),
    dict(method="zendesk", subdomain="acme", oauth_token_env="TICKETFLOW_SECRET_ACME_OAUTH"),
    dict(method="gorgias", subdomain="acme", email="a@b.c",
         api_key_env="TICKETFLOW_SECRET_ACME_GORGIAS"),
])
def test_the_accounts_own_secret_variables_are_accepted(handoff: dict[str, object]) -> None:
    msgspec.convert(_handoff(**handoff), AccountDocument)


@pytest.mark.parametrize("account_id,field,name", [
    ("acme", "token_env", "BETA_ZENDESK_TOKEN"),               # no prefix at all
    ("acme", "token_env", "TICKETFLOW_SECRET_BETA_ZENDESK"),   # another account's
    ("acme", "token_env", "TICKETFLOW_KAFKA"),                 # a deployment setting
    ("acme", "token_env", "TICKETFLOW_SECRET_ACME_"),          # the prefix alone
    # `acme` may not reach into `acme-eu`'s variables, which share its prefix
    ("acme", "token_env", "TICKETFLOW_SECRET_ACME_EU_ZENDESK"),
    ("acme", "oauth_token_env", "TICKETFLOW_SECRET_BETA_OAUTH"),
    ("acme", "api_key_env", "AWS_SECRET_ACCESS_KEY"),
])
def test_a_variable_outside_the_accounts_prefix_is_refused_naming_the_field(
        account_id: str, field: str, name: str) -> None:
    method = "gorgias" if field == "api_key_env" else "zendesk"
    handoff = dict(method=method, subdomain="acme", email="a@b.c", **{field: name})
    with pytest.raises(msgspec.ValidationError, match=rf"handoff\.{field}: .*{name}"):
        msgspec.convert(_handoff(account_id, **handoff), AccountDocument)


# --- helpdesk hosts: the helpdesk's own, or the deployment's allow-list (issue 12, 7) ---

@pytest.mark.parametrize("method,base_url,allowed", [
    ("zendesk", None, ()),
    ("zendesk", "https://acme.zendesk.com", ()),
    ("zendesk", "https://acme.zendesk.com/", ()),
    ("zendesk", "https://ACME.Zendesk.com:443", ()),
    ("gorgias", "https://acme.gorgias.com", ()),
    ("zendesk", "http://127.0.0.1:8080", ("127.0.0.1",)),
    ("gorgias", "http://127.0.0.1:8080", ("10.0.0.1", "127.0.0.1:8080")),
    ("zendesk", "https://helpdesk.internal", ("helpdesk.internal",)),
    ("zendesk", "https://helpdesk.internal", ("helpdesk.internal:443",)),
    ("internal", "http://anything.example", ()),  # not used by this method
])
def test_allowed_helpdesk_urls(method: str, base_url: str | None,
                               allowed: tuple[str, ...]) -> None:
    document = msgspec.convert(_handoff(**_helpdesk(method, base_url)), AccountDocument)
    assert check_helpdesk_host(document, allowed) is None


@pytest.mark.parametrize("method,base_url,allowed", [
    ("zendesk", "http://acme.zendesk.com", ()),              # plain http to the helpdesk
    ("zendesk", "https://elsewhere.example", ()),
    ("zendesk", "https://acme.gorgias.com", ()),             # the other helpdesk's host
    ("zendesk", "https://zendesk.com", ()),
    ("zendesk", "https://acme.zendesk.com.evil.example", ()),
    ("zendesk", "https://a.b.zendesk.com", ()),
    ("zendesk", "https://acme.zendesk.com:8443", ()),
    ("zendesk", "https://evil.example@acme.zendesk.com", ()),
    ("zendesk", "https://acme.zendesk.com@evil.example", ()),
    ("zendesk", "https://evil.example#.zendesk.com", ()),
    ("zendesk", "https://evil.example/?.zendesk.com", ()),
    ("zendesk", "https://evil.example\\.zendesk.com", ()),
    ("zendesk", "https://acme.zendesk.com/api/v2", ()),
    ("gorgias", "http://127.0.0.1:8080", ()),                # not allowed by this deployment
    ("gorgias", "http://127.0.0.1:8080", ("127.0.0.1:9090",)),
    ("gorgias", "http://localhost:8080", ("127.0.0.1",)),
    ("gorgias", "ftp://127.0.0.1", ("127.0.0.1",)),
])
def test_other_helpdesk_urls_are_refused_naming_the_field(method: str, base_url: str,
                                                           allowed: tuple[str, ...]) -> None:
    try:
        document = msgspec.convert(_handoff(**_helpdesk(method, base_url)), AccountDocument)
    except msgspec.ValidationError as exc:  # refused by the document's own pattern
        assert "base_url" in str(exc)
        return
    reason = check_helpdesk_host(document, allowed)
    assert reason is not None and reason.startswith("field $.handoff.base_url: ")


def _helpdesk(method: str, base_url: str | None) -> dict[str, object]:
    secret = ({"api_key_env": "TICKETFLOW_SECRET_ACME_GORGIAS"} if method == "gorgias"
              else {"token_env": "TICKETFLOW_SECRET_ACME_ZENDESK"})
    fields: dict[str, object] = dict(method=method, email="a@b.c", **secret)
    if base_url is None:
        fields["subdomain"] = "acme"
    else:
        fields["base_url"] = base_url
    return fields
