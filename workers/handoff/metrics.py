"""Prometheus metrics of the handoff worker (X4, H8)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

OUTCOMES = Counter("ticketflow_handoff_outcomes_total",
                   "Handoff requests by outcome (replays of a recorded outcome not counted)",
                   ["account", "target", "status"])
CONVERSATIONS = Gauge("ticketflow_ai_conversations",
                      "AI conversations per end class: resolved by the AI, custom message, "
                      "failed handoff, routed to the team (H8; shared across replicas)",
                      ["account", "ended"])
HELPDESK_SECONDS = Gauge("ticketflow_handoff_last_seconds",
                         "Duration of the last helpdesk handoff, retries included",
                         ["account", "target"])


def serve_metrics(port: int | None) -> None:
    """Expose /metrics when a port is configured."""
    if port is not None:
        start_http_server(port, addr="0.0.0.0")


def record_ends(account_id: str, ends: dict[str, int]) -> None:
    for ended, count in ends.items():
        CONVERSATIONS.labels(account_id, ended).set(count)
