"""`ticketflow simulate` refuses bad input before it starts anything (X7)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from workers.cli import main

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "deploy" / "workloads" / "default-day.yaml"


def simulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["simulate", *args])
    return result.exit_code, result.output


def test_a_bad_workload_is_refused_with_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DAY.read_text().replace("median: 4m", "median: soon"))
    code, output = simulate(str(path))
    assert code == 2
    assert f"{path}: refused: field $.agent.handle_time.email.median" in output


def test_a_policy_without_the_workload_s_agents_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "tiny.yaml"
    policy.write_text("account_id: tiny\nversion: 1\nround_robin: true\n"
                      "agents: [{id: ag-01, name: A, email: a@x.example, role: support}]\n")
    code, output = simulate(str(DAY), "--policy", str(policy))
    assert code == 2
    assert "policy tiny: the workload's agents ag-02, ag-03" in output


def test_a_bad_sla_is_refused() -> None:
    code, output = simulate("--sla", "five minutes")
    assert code == 2 and "--sla: 'five minutes' is not a duration" in output
