"""The events of an inactivity close, as a pure function of the close (C4).

Ids derive from (account, ticket, countdown version), and the time is the one stored with
the close, so a re-published close yields byte-identical events that consumers drop.
"""

from __future__ import annotations

from datetime import datetime

from schemas.events import TicketMessage, TicketStatus
from workers.runtime.ids import event_id
from workers.runtime.records import Outgoing

CLOSE_NOTE = "Ticket closed due to inactivity"


def inactivity_close_events(account_id: str, ticket_id: str, version: int,
                            previous_status: str, closed_at: datetime) -> list[Outgoing]:
    """`ticket.status` closed (reason inactivity) and the system note, keyed by ticket."""
    cause = ("inactivity", account_id, ticket_id, version)
    return [
        Outgoing("tickets.events", ticket_id, TicketStatus(
            event_id=event_id("ticket.status", *cause), account_id=account_id,
            ticket_id=ticket_id, status="closed",
            previous_status=previous_status,  # type: ignore[arg-type]
            reason="inactivity", at=closed_at,
        )),
        Outgoing("tickets.events", ticket_id, TicketMessage(
            event_id=event_id("ticket.message", *cause), account_id=account_id,
            ticket_id=ticket_id, message_id="note-" + event_id("system.note", *cause),
            direction="outbound", author_kind="system", author_id=None,
            text=CLOSE_NOTE, at=closed_at,
        )),
    ]
