"""`ticketflow bench-timers` runs end to end on its own stack (small counts)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from workers.cli import main

pytestmark = pytest.mark.e2e


def test_bench_timers_reports_memory_and_fire_rate() -> None:
    result = CliRunner().invoke(main, ["bench-timers", "--timers", "2000", "--fires", "300",
                                       "--accounts", "3"])
    assert result.exit_code == 0, result.output
    assert "2000 pending timers over 3 accounts" in result.output
    assert "fired 300 due timers" in result.output


def test_bench_memory_shows_forgetting_frees_what_a_closed_ticket_held() -> None:
    result = CliRunner().invoke(main, ["bench-memory", "--tickets", "3000"])
    assert result.exit_code == 0, result.output
    figures = {line.split("  ")[1].strip(): float(line.split()[-3])
               for line in result.output.splitlines()[1:]}
    assert len(figures) == 5, result.output
    closed = figures["closed SMS ticket"]
    forgotten = figures["closed SMS ticket, forgotten after retention"]
    assert 0 < forgotten < closed / 2, result.output
