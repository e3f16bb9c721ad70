from __future__ import annotations

import pytest

from harness.processes import WorkerProcess
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, new_ticket, presence

pytestmark = pytest.mark.e2e


def test_new_sms_goes_to_shipping_and_an_online_agent(pipeline: Pipeline, ingest: WorkerProcess,
                                                       router: WorkerProcess) -> None:
    presence(pipeline, "ag-3", applied_by=router)
    created = new_ticket(pipeline)
    [change] = assignments(pipeline, created.ticket_id)
    assert (change.team_id, change.agent_id, change.method, change.rule_id) == (
        "shipping", "ag-3", "round_robin", "r1")
