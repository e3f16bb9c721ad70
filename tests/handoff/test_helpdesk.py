"""H7: an adapter is handed its account's one secret and nothing else, and a helpdesk's
error answer is published only as a short, printable summary."""

from __future__ import annotations

from schemas.config import HandoffSettings
from workers.handoff.helpdesk import ERROR_EXCERPT_CHARS, account_secret, error_summary

ENV = {"TICKETFLOW_SECRET_ACME_ZENDESK": "zd", "TICKETFLOW_SECRET_ACME_OAUTH": "oa",
       "TICKETFLOW_SECRET_ACME_GORGIAS": "gg", "TICKETFLOW_SECRET_BETA_ZENDESK": "beta",
       "TICKETFLOW_REDIS": "redis://r"}


def test_an_adapter_gets_only_the_variable_its_method_reads() -> None:
    token = HandoffSettings(method="zendesk", subdomain="acme", email="a@b.c",
                            token_env="TICKETFLOW_SECRET_ACME_ZENDESK")
    assert account_secret("acme", token, ENV) == {"TICKETFLOW_SECRET_ACME_ZENDESK": "zd"}
    oauth = HandoffSettings(method="zendesk", subdomain="acme", email="a@b.c",
                            token_env="TICKETFLOW_SECRET_ACME_ZENDESK",
                            oauth_token_env="TICKETFLOW_SECRET_ACME_OAUTH")
    assert account_secret("acme", oauth, ENV) == {"TICKETFLOW_SECRET_ACME_OAUTH": "oa"}
    gorgias = HandoffSettings(method="gorgias", subdomain="acme", email="a@b.c",
                              api_key_env="TICKETFLOW_SECRET_ACME_GORGIAS")
    assert account_secret("acme", gorgias, ENV) == {"TICKETFLOW_SECRET_ACME_GORGIAS": "gg"}
    assert account_secret("acme", HandoffSettings(method="internal"), ENV) == {}


def test_a_variable_outside_the_accounts_prefix_is_never_handed_over() -> None:
    # The account document refuses such a name; this is the second line, where a secret
    # would leave the process.
    other = HandoffSettings(method="zendesk", subdomain="acme", email="a@b.c",
                            token_env="TICKETFLOW_SECRET_BETA_ZENDESK")
    assert account_secret("acme", other, ENV) == {}
    unset = HandoffSettings(method="zendesk", subdomain="acme", email="a@b.c",
                            token_env="TICKETFLOW_SECRET_ACME_NOTSET")
    assert account_secret("acme", unset, ENV) == {}


def test_error_summary_is_the_status_and_a_short_printable_excerpt() -> None:
    body = b'{"error": "RecordInvalid",\r\n\t"details": "' + b"x" * 5000 + b'\x1b[0m"}'
    summary = error_summary(422, body)
    assert summary.startswith('HTTP 422: {"error": "RecordInvalid", "details": "xxx')
    assert len(summary) == len("HTTP 422: ") + ERROR_EXCERPT_CHARS
    assert summary.isprintable()
    assert error_summary(401, b"") == "HTTP 401"
    assert error_summary(500, "é".encode() + b"\xff") == "HTTP 500: é\ufffd"
