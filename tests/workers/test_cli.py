"""`ticketflow config` refuses invalid documents naming the field, before publishing (A4)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from workers.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "accounts" / "acme.yaml"


def test_check_accepts_the_sample() -> None:
    result = CliRunner().invoke(main, ["config", "check", str(SAMPLE)])
    assert result.exit_code == 0 and "acme version 1: valid" in result.output


def test_apply_refuses_an_invalid_document_without_touching_the_broker(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAMPLE.read_text().replace("days: 2,", "days: 0,"))
    # An unreachable broker proves the refusal happens before any publishing.
    result = CliRunner().invoke(main, ["config", "apply", str(bad)],
                                env={"TICKETFLOW_KAFKA": "127.0.0.1:1"})
    assert result.exit_code == 2
    assert "refused: field $.auto_close.days: " in result.output


def test_every_replica_runs_the_deployed_command() -> None:
    """deploy/ runs `ticketflow worker <kind>` (the image's entry point); `make run`, the
    tests, the chaos run and the benchmark start every replica with that same entry point,
    so the repeated-SIGTERM guard and everything else they prove is what production runs."""
    import sys
    import tomllib

    from harness.processes import WORKER_KINDS, command

    root = SAMPLE.parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ticketflow"] == "workers.cli:main"
    assert "ENTRYPOINT [\"ticketflow\"]" in (root / "deploy" / "Dockerfile").read_text()
    assert "from workers.cli import main" in (root / "workers" / "__main__.py").read_text()
    for kind in WORKER_KINDS:
        assert command(kind) == [sys.executable, "-m", "workers", "worker", kind]
        assert f'main(["worker", "{kind}"])' in (root / "workers" / kind / "__main__.py"
                                                  ).read_text()
