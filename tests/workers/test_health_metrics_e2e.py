"""X4: each worker serves health, readiness and Prometheus metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import msgspec
import pytest

from harness.embedded import free_port
from harness.processes import WorkerProcess
from schemas.events import TicketAssigned, TicketMessage
from tests.messages import sms
from tests.pipeline import Pipeline
from tests.router.helpers import presence
from workers.runtime.settings import Settings

pytestmark = pytest.mark.e2e


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_ingest_and_router_expose_health_readiness_and_metrics(
        pipeline: Pipeline, router_settings: Settings) -> None:
    ports = {"ingest": free_port(), "router": free_port()}
    workers = {kind: WorkerProcess(kind, msgspec.structs.replace(
        router_settings, http_port=ports[kind])).start() for kind in ports}
    try:
        for kind, worker in workers.items():
            worker.wait_for_log(r"partitions assigned: [1-9]")
            status, body = get(ports[kind], "/ready")
            assert (status, json.loads(body)) == (200, {"ready": True})
            status, body = get(ports[kind], "/health")
            assert status == 200 and json.loads(body)["status"] == "ok"
        presence(pipeline, "ag-3", applied_by=workers["router"])
        pipeline.publish_raw("inbound.sms", "bad", b"not json")
        good = sms()
        pipeline.publish("inbound.sms", good.from_number, good)
        pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketAssigned) for r in rs))
        pipeline.tail("deadletter").wait_for(lambda rs: len(rs) >= 1)
        _, ingest_metrics = get(ports["ingest"], "/metrics")
        assert metric(ingest_metrics, "ticketflow_records_total", worker="ingest",
                      topic="inbound.sms") == 2
        assert metric(ingest_metrics, "ticketflow_dead_letters_total", worker="ingest",
                      source_topic="inbound.sms") == 1
        assert metric(ingest_metrics, "ticketflow_published_total", worker="ingest",
                      topic="tickets.events") == 2
        assert metric(ingest_metrics, "ticketflow_record_latency_seconds_count",
                      worker="ingest") == 2
        assert "ticketflow_consumer_lag{" in ingest_metrics
        assert metric(ingest_metrics, "ticketflow_batch_seconds_count", worker="ingest") >= 1
        # The router's own assigned events come back to it; wait until it has counted them.
        messages = [r for r in pipeline.events.records if isinstance(r, TicketMessage)]
        assert messages
        _, router_metrics = get(ports["router"], "/metrics")
        assert metric(router_metrics, "ticketflow_assignments_total", account="acme",
                      agent="ag-3", method="round_robin") == 1
    finally:
        for worker in workers.values():
            assert worker.sigterm() == 0
