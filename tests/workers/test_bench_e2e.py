"""`ticketflow bench` (X5) runs end to end on its own stack: routed tickets/s, latency
percentiles and the raw pass-through of the same broker, from one run (small counts)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from workers.cli import main

pytestmark = pytest.mark.e2e


def test_bench_reports_routed_rate_latency_and_raw_pass_through() -> None:
    result = CliRunner().invoke(main, ["bench", "--tickets", "300", "--rate", "300",
                                       "--partitions", "2"])
    assert result.exit_code == 0, result.output
    raw = re.search(r"raw pass-through: (\d+) records/s .*2 partitions per topic", result.output)
    routed = re.search(r"ingest\+router x1, 300 tickets paced at 300/s: (\d+) routed tickets/s "
                       r"= \d+% of raw pass-through; latency p50 ([\d.]+) ms, "
                       r"p95 ([\d.]+) ms, p99 ([\d.]+) ms", result.output)
    assert raw and routed, result.output
    assert int(raw[1]) > 0 and int(routed[1]) > 0
    p50, p95, p99 = (float(routed[i]) for i in (2, 3, 4))
    assert 0 < p50 <= p95 <= p99
    assert re.search(r"by hop .*: ingest p50 .* router p50 .* read back p50", result.output)


def test_bench_refuses_more_replicas_than_partitions() -> None:
    result = CliRunner().invoke(main, ["bench", "--replicas", "3", "--partitions", "2"])
    assert result.exit_code == 2
    assert "3 replicas need at least as many partitions" in result.output
