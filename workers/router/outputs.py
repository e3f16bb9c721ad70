"""What the router publishes: pure translations of a refusal or an applied change into the
records that go out (R5, R9, N1), plus the assignment counter every applier bumps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from schemas.agent_app import Presence, ReplyCommand, SetStatusCommand
from schemas.config import AccountDocument
from schemas.events import (
    CommandRejected,
    Notification,
    TicketAssigned,
    TicketMessage,
    TicketStatus,
)
from schemas.internal import CountdownStart
from workers.router.commands import ReplyPlan, presence_cause
from workers.router.decide import (
    customer_reply_notifications,
    notifications_for_change,
    reopened_notifications,
)
from workers.runtime.ids import event_id
from workers.runtime.metrics import ASSIGNMENTS
from workers.runtime.records import Outgoing


def rejection(account_id: str, command_id: str, ticket_id: str | None, reason: str,
              at: datetime, key: str) -> Outgoing:
    """One `command.rejected` (R5), its id derived from the command and ticket."""
    return Outgoing("tickets.events", key, CommandRejected(
        event_id=event_id("command.rejected", account_id, command_id, ticket_id),
        account_id=account_id, command_id=command_id, ticket_id=ticket_id, reason=reason,
        at=at))


def command_rejections(account: AccountDocument, cmd: Any, ticket_ids: Iterable[str | None],
                       reason: str) -> list[Outgoing]:
    """A refused command: one rejection per ticket it names, keyed by the ticket (else by
    the account)."""
    return [rejection(account.account_id, cmd.command_id, ticket_id, reason, cmd.at,
                      ticket_id or account.account_id) for ticket_id in ticket_ids]


def presence_rejection(account: AccountDocument, p: Presence, reason: str) -> Outgoing:
    """A refused presence (R3): named by the presence itself, keyed by the agent."""
    return rejection(account.account_id, presence_cause(p), None, reason, p.at, p.agent_id)


def notices(notifications: Iterable[Notification]) -> list[Outgoing]:
    """Notifications, keyed by the agent they are for."""
    return [Outgoing("notifications", n.agent_id, n) for n in notifications]


def assignment_events(account: AccountDocument, change: TicketAssigned | str | None,
                      new_ticket: bool = False) -> list[Outgoing]:
    """An applied responsibility change: its `ticket.assigned` (R9) and the notifications
    it causes (N1); anything but a change (None: nothing changed, MISSING) yields nothing."""
    if not isinstance(change, TicketAssigned):
        return []
    return [Outgoing("tickets.events", change.ticket_id, change),
            *notices(notifications_for_change(account, change, new_ticket))]


def customer_replied(account: AccountDocument, ev: TicketMessage, agent_id: str,
                     opening_message_id: str) -> list[Outgoing]:
    """A customer message on a ticket held by `agent_id` (`customer_reply_notifications`)."""
    return notices(customer_reply_notifications(account, ev, agent_id, opening_message_id))


def reopened(account: AccountDocument, ev: TicketStatus, agent_id: str | None,
             team_id: str | None) -> list[Outgoing]:
    """A reopened ticket (`reopened_notifications`)."""
    return notices(reopened_notifications(account, ev, agent_id, team_id))


def reply_events(account: AccountDocument, cmd: ReplyCommand, plan: ReplyPlan,
                 claim: TicketAssigned | None, countdown_version: int | None,
                 ) -> list[Outgoing]:
    """A recorded reply: the outbound message, the claim it made (R7), and the auto-close
    countdown it started (C2)."""
    out = [Outgoing("tickets.events", cmd.ticket_id, TicketMessage(
        event_id=event_id("ticket.message", cmd.command_id), account_id=account.account_id,
        ticket_id=cmd.ticket_id, message_id=plan.email_message_id, direction="outbound",
        author_kind=cmd.author_kind, author_id=cmd.actor_id, text=cmd.text, at=cmd.at))]
    out += assignment_events(account, claim)
    if countdown_version is not None:
        out.append(Outgoing("timers", cmd.ticket_id, CountdownStart(
            event_id=event_id("countdown.start", cmd.command_id),
            account_id=account.account_id, ticket_id=cmd.ticket_id,
            version=countdown_version, started_at=cmd.at)))
    return out


def status_events(account: AccountDocument, cmd: SetStatusCommand,
                  previous: str) -> list[Outgoing]:
    """An applied status command: a `ticket.status` unless the status was already that."""
    if previous == cmd.status:
        return []
    return [Outgoing("tickets.events", cmd.ticket_id, TicketStatus(
        event_id=event_id("ticket.status", cmd.command_id), account_id=account.account_id,
        ticket_id=cmd.ticket_id, status=cmd.status, previous_status=previous,  # type: ignore[arg-type]
        reason="agent", at=cmd.at))]


def count_assignments(account_id: str, changes: Iterable[object]) -> None:
    """Bump the assignments metric once per change that gave a ticket a new agent; the one
    side effect in this module, kept here so that every applier counts alike."""
    for change in changes:
        if (isinstance(change, TicketAssigned) and change.agent_id
                and change.agent_id != change.previous_agent_id):
            ASSIGNMENTS.labels(account_id, change.agent_id, change.method).inc()
