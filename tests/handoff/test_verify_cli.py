"""H7: `ticketflow handoff verify` checks credentials against the helpdesk's identity
endpoint, reading the account from accounts.config; the secret never appears in output."""

from __future__ import annotations

import pytest

from schemas.config import AccountDocument
from tests.handoff.conftest import (
    GORGIAS_SECRET,
    SECRETS,
    ZENDESK_OAUTH_ENV,
    ZENDESK_SECRET,
    ZENDESK_TOKEN_ENV,
    configure,
    gorgias_config,
    zendesk_config,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.handoff.test_consent_and_stats_e2e import cli
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def test_verify_zendesk_token_oauth_and_refusals(pipeline: Pipeline, acme: AccountDocument,
                                                 zendesk: FakeHelpdesk) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    ok = cli(pipeline.settings, "handoff", "verify", "--account", "acme", env=SECRETS)
    assert ok.returncode == 0, ok.stderr
    assert "accepted" in ok.stdout and f"${ZENDESK_TOKEN_ENV}" in ok.stdout
    assert zendesk.requests[-1].path == "/api/v2/users/me"

    wrong = cli(pipeline.settings, "handoff", "verify", "--account", "acme",
                env={ZENDESK_TOKEN_ENV: "not-the-token"})
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
    missing = cli(pipeline.settings, "handoff", "verify", "--account", "acme", env={})
    assert missing.returncode == 1 and f"{ZENDESK_TOKEN_ENV} is not set" in missing.stderr

    configure(pipeline, acme, version=3, **zendesk_config(zendesk, oauth=True))
    oauth = cli(pipeline.settings, "handoff", "verify", "--account", "acme", env=SECRETS)
    assert oauth.returncode == 0 and f"${ZENDESK_OAUTH_ENV}" in oauth.stdout
    for run in (ok, wrong, missing, oauth):
        assert ZENDESK_SECRET not in run.stdout + run.stderr
        assert "not-the-token" not in run.stdout + run.stderr


def test_verify_gorgias_and_unknown_account(pipeline: Pipeline, acme: AccountDocument,
                                            gorgias: FakeHelpdesk) -> None:
    configure(pipeline, acme, **gorgias_config(gorgias))
    ok = cli(pipeline.settings, "handoff", "verify", "--account", "acme", env=SECRETS)
    assert ok.returncode == 0 and "account acme" in ok.stdout, ok.stderr
    assert gorgias.requests[-1].path == "/api/account"
    assert GORGIAS_SECRET not in ok.stdout + ok.stderr
    unknown = cli(pipeline.settings, "handoff", "verify", "--account", "nobody", env=SECRETS)
    assert unknown.returncode == 1 and "not found" in unknown.stderr
