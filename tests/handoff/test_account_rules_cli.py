"""H7: `ticketflow config check` and `config apply` refuse a document whose helpdesk
secret is not the account's own or whose `base_url` is not an allowed host, naming the
field, before anything is published; the allow-list is the deployment's setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from workers.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml"
UNREACHABLE = {"TICKETFLOW_KAFKA": "127.0.0.1:1"}  # proves nothing was published


def document(tmp_path: Path, handoff: str) -> Path:
    path = tmp_path / "acme.yaml"
    text = SAMPLE.read_text()
    assert "handoff: {method: internal}" in text
    path.write_text(text.replace("handoff: {method: internal}", f"handoff: {handoff}"))
    return str(path)  # type: ignore[return-value]


def zendesk(base_url: str, token_env: str = "TICKETFLOW_SECRET_ACME_ZENDESK") -> str:
    return (f"{{method: zendesk, base_url: '{base_url}', email: bot@acme.example, "
            f"token_env: {token_env}}}")


@pytest.mark.parametrize("command", ["check", "apply"])
def test_another_accounts_secret_is_refused_naming_the_field(tmp_path: Path,
                                                             command: str) -> None:
    path = document(tmp_path, zendesk("https://acme.zendesk.com", "BETA_ZENDESK_TOKEN"))
    result = CliRunner().invoke(main, ["config", command, path], env=UNREACHABLE)
    assert result.exit_code == 2, result.output
    assert "handoff.token_env: BETA_ZENDESK_TOKEN" in result.output


@pytest.mark.parametrize("command", ["check", "apply"])
def test_a_host_the_deployment_does_not_allow_is_refused_naming_the_field(
        tmp_path: Path, command: str) -> None:
    path = document(tmp_path, zendesk("http://elsewhere.example"))
    result = CliRunner().invoke(main, ["config", command, path], env=UNREACHABLE)
    assert result.exit_code == 2, result.output
    assert "field $.handoff.base_url: elsewhere.example:80 over http" in result.output


def test_the_deployments_allow_list_admits_its_hosts(tmp_path: Path) -> None:
    path = document(tmp_path, zendesk("http://helpdesk.internal:8080"))
    refused = CliRunner().invoke(main, ["config", "check", path],
                                 env={"TICKETFLOW_HELPDESK_ALLOWED_HOSTS": ""})
    assert refused.exit_code == 2, refused.output
    allowed = CliRunner().invoke(main, ["config", "check", path], env={
        "TICKETFLOW_HELPDESK_ALLOWED_HOSTS": "127.0.0.1, helpdesk.internal:8080"})
    assert allowed.exit_code == 0, allowed.output
    assert "acme version 1: valid" in allowed.output


def test_a_malformed_allow_list_stops_the_process_naming_the_variable() -> None:
    from workers.runtime.settings import Settings

    assert Settings.from_env({"TICKETFLOW_HELPDESK_ALLOWED_HOSTS": " A.example ,b:8080,"}
                             ).helpdesk_allowed_hosts == ("a.example", "b:8080")
    for bad in ("https://a.example", "a.example:0", "a.example:99999", "a b"):
        with pytest.raises(SystemExit, match="TICKETFLOW_HELPDESK_ALLOWED_HOSTS"):
            Settings.from_env({"TICKETFLOW_HELPDESK_ALLOWED_HOSTS": bad})
