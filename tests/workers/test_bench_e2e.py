"""`ticketflow bench` (X5) runs end to end on its own stack: routed tickets/s, latency
percentiles and the raw pass-through of the same broker, from one run (small counts). The
bench's broker is the suite's (`--broker kafka` under TICKETFLOW_TEST_BROKER=kafka)."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from harness.embedded import kafka_version
from tests.conftest import test_broker
from workers.cli import main

pytestmark = pytest.mark.e2e


def broker_line() -> str:
    """How the bench names the broker its figures come from."""
    if os.environ.get("TICKETFLOW_KAFKA"):  # a broker given from outside, as the stack uses
        return "broker: TICKETFLOW_KAFKA="
    return {"tansu": "broker: tansu\n",
            "kafka": f"broker: Apache Kafka {kafka_version()} (KRaft, 1 node, ready in "
            }[test_broker()]


def bench(*args: str) -> tuple[int, str]:
    """`ticketflow bench --broker <the suite's> ...`: exit code and output."""
    result = CliRunner().invoke(main, ["bench", "--broker", test_broker(), *args])
    return result.exit_code, result.output


def test_bench_reports_routed_rate_latency_and_raw_pass_through() -> None:
    code, output = bench("--tickets", "300", "--rate", "300", "--partitions", "2")
    assert code == 0, output
    # One broker for both figures: the raw pass-through and the pipeline in the same run.
    assert output.count("broker: ") == 1 and broker_line() in output, output
    raw = re.search(r"raw pass-through: (\d+) records/s .*2 partitions per topic", output)
    routed = re.search(r"ingest\+router x1, 300 tickets paced at 300/s: (\d+) routed tickets/s "
                       r"= ratio for flat-out runs only; latency p50 ([\d.]+) ms, "
                       r"p95 ([\d.]+) ms, p99 ([\d.]+) ms", output)
    assert raw and routed, output
    assert int(raw[1]) > 0 and int(routed[1]) > 0
    p50, p95, p99 = (float(routed[i]) for i in (2, 3, 4))
    assert 0 < p50 <= p95 <= p99
    assert re.search(r"by hop .*: ingest p50 .* router p50 .* read back p50", output)
    tenths = re.search(r"p50 by tenth of the run: ([\d., ]+) ms", output)
    assert tenths and len(tenths[1].split(", ")) == 10, output
    written = re.search(r"to ticket.assigned written .*: p50 ([\d.]+) ms, p95 ([\d.]+) ms, "
                        r"p99 ([\d.]+) ms", output)
    assert written, output
    w50, w95, w99 = (float(written[i]) for i in (1, 2, 3))
    # Written precedes read back, ticket by ticket, so its percentiles cannot be larger.
    assert 0 < w50 <= w95 <= w99 and w50 <= p50 and w99 <= p99


def test_bench_refuses_more_replicas_than_partitions() -> None:
    code, output = bench("--replicas", "3", "--partitions", "2")
    assert code == 2
    assert "3 replicas need at least as many partitions" in output


def test_bench_broker_alone_reports_latency_and_cpu_per_tenth() -> None:
    code, output = bench("--stage", "broker", "--tickets", "600", "--rate", "300",
                         "--partitions", "2")
    assert code == 0, output
    assert broker_line() in output, output
    overall = re.search(r"broker alone, one raw pass-through hop, 600 records paced at 300/s, "
                        r"2 partitions: latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", output)
    assert overall, output
    assert 0 < float(overall[1]) <= float(overall[2])
    tenths = re.search(r"p50 by tenth of the run: ([\d., ]+) ms", output)
    assert tenths and len(tenths[1].split(", ")) == 10, output
    cpu = re.search(r"broker CPU by tenth of the run: ([\d%, ]+) of a core", output)
    assert cpu and 1 <= len(cpu[1].split(", ")) <= 10, output


def test_bench_routes_with_capacity_and_balanced_next_to_round_robin() -> None:
    code, output = bench("--routing", "both", "--tickets", "200", "--capacity", "10",
                         "--partitions", "2")
    assert code == 0, output
    assert output.count("broker: ") == 1 and broker_line() in output, output
    plain = re.search(r"ingest\+router x1, 200 tickets flat out: (\d+) routed tickets/s", output)
    loaded = re.search(r"ingest\+router x1, 200 tickets flat out \(balanced, capacity 10 SMS "
                       r"per agent, each closed as assigned; (\d+) assigned by backlog\): "
                       r"(\d+) routed tickets/s", output)
    assert plain and loaded, output
    # 5 agents, 10 places each, flat out: at most 50 are assigned at once, the rest wait
    # and take the places their closes free.
    assert 0 < int(loaded[1]) <= 150 and int(loaded[2]) > 0
    side = re.search(r"routing, same run: round robin (\d+) routed tickets/s, balanced \+ "
                     r"capacity 10/agent closing as assigned (\d+) routed tickets/s "
                     r"\(\d+%\), (\d+) of 200 by backlog", output)
    assert side and side[1] == plain[1] and side[2] == loaded[2] and side[3] == loaded[1]
