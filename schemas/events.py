"""Events ticketflow publishes: `tickets.events`, `notifications`, `deadletter`."""

from __future__ import annotations

from typing import Literal, Union

from schemas.agent_app import TicketStatusName
from schemas.common import AccountId, Id, Label, Timestamp, Wire
from schemas.inbound import Channel

AuthorKind = Literal["customer", "agent", "ai", "system"]
AssignMethod = Literal["rule", "round_robin", "manual", "transfer", "reply", "solo", "backlog",
                       "balanced"]
Priority = Literal["urgent", "high", "normal", "low"]
"""A ticket's place in the waiting queue (R12), most pressing first."""
BacklogReason = Literal["capacity_freed", "agent_online", "hours_opened", "agent_offline"]
"""Why a waiting ticket was assigned (method `backlog`, R12, R15)."""
StatusReason = Literal["inactivity", "agent", "customer_reply", "reopened"]
NotificationKind = Literal["assigned", "customer_replied", "team_new_ticket", "reopened"]
DeliveryChannel = Literal["email", "slack", "push", "in_app"]


class Customer(Wire):
    """Customer identity as known from the channel (I4)."""

    phone: str | None = None
    email: str | None = None
    name: str | None = None
    profile_id: str | None = None


class TicketCreated(Wire, tag_field="type", tag="ticket.created"):
    """A new ticket (I4). `tags`, `segments`, `body` are optional additions for routing."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    number: int
    channel: Channel
    customer: Customer
    subject: str | None
    created_at: Timestamp
    customer_ticket_count: int
    tags: list[Label] = []
    segments: list[Label] = []
    body: str | None = None


class TicketMessage(Wire, tag_field="type", tag="ticket.message"):
    """A message added to a ticket, in either direction."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    message_id: Id
    direction: Literal["inbound", "outbound"]
    author_kind: AuthorKind
    author_id: str | None
    text: str
    at: Timestamp


class TicketAssigned(Wire, tag_field="type", tag="ticket.assigned"):
    """One change of responsibility (R9)."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    team_id: str | None
    agent_id: str | None
    previous_team_id: str | None
    previous_agent_id: str | None
    method: AssignMethod
    actor_id: str | None
    rule_id: str | None
    at: Timestamp
    # The ticket's priority when routed, if it has one; why a `backlog` assignment happened.
    priority: Priority | None = None
    reason: BacklogReason | None = None


class TicketStatus(Wire, tag_field="type", tag="ticket.status"):
    """A status change of a ticket."""

    event_id: Id
    account_id: AccountId
    ticket_id: Id
    status: TicketStatusName
    previous_status: TicketStatusName | None
    reason: StatusReason
    at: Timestamp


class CommandRejected(Wire, tag_field="type", tag="command.rejected"):
    """A refused `tickets.commands` record, with the reason."""

    event_id: Id
    account_id: AccountId
    command_id: Id
    ticket_id: str | None
    reason: str
    at: Timestamp


TicketEvent = Union[TicketCreated, TicketMessage, TicketAssigned, TicketStatus, CommandRejected]


class Notification(Wire):
    """Tell an agent something happened to their tickets (N1; key: agent id)."""

    event_id: Id
    account_id: AccountId
    agent_id: Id
    kind: NotificationKind
    ticket_id: Id
    channels: list[DeliveryChannel]
    at: Timestamp


class DeadLetter(Wire):
    """A record a worker could not use, kept with the reason and its original bytes."""

    event_id: Id
    source_topic: str
    partition: int
    offset: int
    reason: str
    worker: str
    payload_b64: str
    at: Timestamp
    account_id: str | None = None
    payload_size: int | None = None
    payload_truncated: bool = False
