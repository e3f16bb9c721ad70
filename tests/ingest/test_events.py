"""The events of a threaded message (pure): a redelivery rebuilds the first delivery's."""

from __future__ import annotations

import msgspec

from schemas.codec import encode
from tests.messages import at, email
from workers.ingest.events import ticket_events
from workers.ingest.threading import ThreadOutcome, plan_threading

CREATED = ThreadOutcome(kind="created", ticket_id="t-1", number=7,
                        created_at="2026-11-22T10:00:00Z", customer_ticket_count=1, version=1,
                        duplicate=False)


def test_a_redelivery_republishes_the_first_records_whatever_the_retry_carries() -> None:
    first = plan_threading(email(message_id="<e1@x>", text="Refund please", received_at=at(0)))
    retry = plan_threading(email(message_id="<e1@x>", text="Forged", subject="Other",
                                 from_name="Mallory", tags=["t"], received_at=at(99)))
    original = [encode(o.value) for o in ticket_events(first, CREATED)]
    replayed = msgspec.structs.replace(CREATED, duplicate=True, recorded=first.content)
    assert [encode(o.value) for o in ticket_events(retry, replayed)] == original


def test_event_ids_name_the_ticket_version_a_message_produced() -> None:
    """A message id forgotten past the dedup window and seen again produces another version:
    its events get other ids instead of reusing ids that name other content."""
    plan = plan_threading(email(message_id="<e2@x>"))
    again = msgspec.structs.replace(CREATED, kind="appended", version=5)
    ids = {o.value.event_id for o in ticket_events(plan, CREATED)}
    assert ids.isdisjoint(o.value.event_id for o in ticket_events(plan, again))
    assert ids == {o.value.event_id for o in ticket_events(plan, CREATED)}
