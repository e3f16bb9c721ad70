"""I2 for commands: a command redelivered after its effects were applied (a replica died
before publishing) publishes the very same events again; it never loses them."""

from __future__ import annotations

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.agent_app import SetTagsCommand
from schemas.config import AccountDocument, Condition, Rule, RuleActions
from schemas.events import TicketAssigned
from tests.conftest import MONDAY_OPEN
from tests.pipeline import Pipeline
from tests.router.helpers import new_ticket
from tests.router.test_routing_e2e import apply

pytestmark = pytest.mark.e2e


def test_a_redelivered_set_tags_publishes_its_assignment_again(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    retag = Rule(id="retag", name="parcel tag to shipping", trigger="tags_changed",
                 groups=[[Condition(field="tags", op="contains", value="parcel")]],
                 actions=RuleActions(team_id="shipping"))
    apply(pipeline, router, msgspec.structs.replace(acme, version=2, rules=[retag]))
    created = new_ticket(pipeline, from_number="+15550007001")
    tags = SetTagsCommand(command_id="tags-1", account_id="acme", actor_id="ag-2",
                          at=MONDAY_OPEN, ticket_id=created.ticket_id, tags=["parcel"])

    def to_shipping(rs: list[object]) -> list[TicketAssigned]:
        return [r for r in rs if isinstance(r, TicketAssigned)
                and r.ticket_id == created.ticket_id and r.team_id == "shipping"]

    pipeline.publish("tickets.commands", created.ticket_id, tags)
    [change] = to_shipping(pipeline.events.wait_for(lambda rs: bool(to_shipping(rs)),
                                                    what="the re-tag routed to shipping"))
    # The same record again, as after a crash between Redis and the publish: the ticket is
    # already in shipping, and the assignment must still be published, the same one.
    pipeline.publish("tickets.commands", created.ticket_id, tags)
    copies = to_shipping(pipeline.events.wait_for(lambda rs: len(to_shipping(rs)) >= 2,
                                                  what="the assignment published again"))
    assert {c.event_id for c in copies} == {change.event_id}
    assert all(c == change for c in copies)
