"""Prometheus metrics every worker exposes (X4). One registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

RECORDS = Counter("ticketflow_records", "Records consumed", ["worker", "topic"],
                  registry=REGISTRY)
PUBLISHED = Counter("ticketflow_published", "Records published", ["worker", "topic"],
                    registry=REGISTRY)
DEAD_LETTERS = Counter("ticketflow_dead_letters", "Records sent to deadletter",
                       ["worker", "source_topic"], registry=REGISTRY)
BATCH_SECONDS = Histogram(
    "ticketflow_batch_seconds", "Time to decide, publish and commit one batch", ["worker"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY)
RECORD_LATENCY = Histogram(
    "ticketflow_record_latency_seconds",
    "From a record's append to the broker until its batch was committed", ["worker"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY)
CONSUMER_LAG = Gauge("ticketflow_consumer_lag", "Records not yet consumed",
                     ["worker", "topic", "partition"], registry=REGISTRY)
ASSIGNMENTS = Counter("ticketflow_assignments", "Tickets assigned to an agent",
                      ["account", "agent", "method"], registry=REGISTRY)
HANDOFF_OUTCOMES = Counter("ticketflow_handoff_outcomes", "Handoff results",
                           ["account", "target", "status"], registry=REGISTRY)
