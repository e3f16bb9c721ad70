"""The events a threaded message produces, as a pure function of what happened."""

from __future__ import annotations

from datetime import datetime

from schemas.events import TicketCreated, TicketMessage, TicketStatus
from schemas.inbound import WebchatTyping
from schemas.internal import CountdownCancel, CustomerTyping
from workers.ingest.threading import ThreadingPlan, ThreadOutcome, event_content
from workers.runtime.ids import event_id
from workers.runtime.records import Outgoing


def ticket_events(plan: ThreadingPlan, outcome: ThreadOutcome) -> list[Outgoing]:
    """`tickets.events` and `timers` records for one threaded customer message.

    A redelivered message re-publishes the very records of its first delivery: the content
    is the one its first delivery recorded, and event ids derive from the provider message
    id and the ticket number and version it produced. A message id seen again past the dedup
    window produces another version, so its events get other ids: an id names one content.
    """
    account, ticket = plan.account_id, outcome.ticket_id
    content = event_content(plan, outcome)
    cause = (account, plan.channel, plan.message_id, outcome.number, outcome.version)
    out: list[Outgoing] = []
    if outcome.kind == "created":
        out.append(Outgoing("tickets.events", ticket, TicketCreated(
            event_id=event_id("ticket.created", *cause),
            account_id=account, ticket_id=ticket, number=outcome.number,
            channel=plan.channel, customer=content.customer, subject=content.subject,
            created_at=datetime.fromisoformat(outcome.created_at),
            customer_ticket_count=outcome.customer_ticket_count,
            tags=content.tags, segments=content.segments,
            body=content.text,
        )))
    elif outcome.kind in ("reopened", "unsnoozed"):
        out.append(Outgoing("tickets.events", ticket, TicketStatus(
            event_id=event_id("ticket.status", *cause),
            account_id=account, ticket_id=ticket, status="open",
            previous_status=outcome.previous_status,
            reason="reopened" if outcome.kind == "reopened" else "customer_reply",
            at=content.at,
        )))
    out.append(Outgoing("tickets.events", ticket, TicketMessage(
        event_id=event_id("ticket.message", *cause),
        account_id=account, ticket_id=ticket, message_id=plan.message_id,
        direction="inbound", author_kind="customer", author_id=content.author_id,
        text=content.text, at=content.at,
    )))
    out.append(Outgoing("timers", ticket, CountdownCancel(
        event_id=event_id("countdown.cancel", *cause),
        account_id=account, ticket_id=ticket, version=outcome.version, at=content.at,
    )))
    return out


def typing_event(typing: WebchatTyping, ticket_id: str) -> Outgoing:
    """Forward a visitor's typing to the closer (I5 -> C3)."""
    return Outgoing("timers", ticket_id, CustomerTyping(
        event_id=event_id("customer.typing", typing.account_id, typing.session_id,
                          typing.at.isoformat()),
        account_id=typing.account_id, ticket_id=ticket_id, at=typing.at,
    ))

