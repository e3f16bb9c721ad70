"""Prometheus metrics of the handoff worker (X4, H8), on the process-wide registry that the
consume loop serves at /metrics."""

from __future__ import annotations

from prometheus_client import Gauge

from workers.runtime.metrics import HANDOFF_OUTCOMES as OUTCOMES
from workers.runtime.metrics import REGISTRY

CONVERSATIONS = Gauge("ticketflow_ai_conversations",
                      "AI conversations per end class: resolved by the AI, custom message, "
                      "failed handoff, routed to the team (H8; shared across replicas)",
                      ["account", "ended"], registry=REGISTRY)
HELPDESK_SECONDS = Gauge("ticketflow_handoff_last_seconds",
                         "Duration of the last helpdesk handoff, retries included",
                         ["account", "target"], registry=REGISTRY)

__all__ = ["CONVERSATIONS", "HELPDESK_SECONDS", "OUTCOMES", "record_ends"]


def record_ends(account_id: str, ends: dict[str, int]) -> None:
    for ended, count in ends.items():
        CONVERSATIONS.labels(account_id, ended).set(count)
