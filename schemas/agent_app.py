"""Records published by the agent app on `agents.presence` and `tickets.commands`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

import msgspec

from schemas.common import AccountId, Body, Id, Label, Timestamp, Wire

PresenceStatus = Literal["online", "offline", "logout", "heartbeat"]
TicketStatusName = Literal["open", "snoozed", "closed"]

MAX_BULK_TICKETS = 100
"""Tickets one `assign` may name (Zendesk's bulk update takes 100 per call): the router
applies a command's tickets one by one, so the list bounds the time one record holds its
partition."""
MAX_TAGS = 100
"""Tags one `set_tags` may give a ticket."""


class Presence(Wire):
    """An agent's own status change (key: agent id); refused when actor != agent (R3)."""

    account_id: AccountId
    agent_id: Id
    actor_id: Id
    status: PresenceStatus
    at: Timestamp


class AssignCommand(Wire, tag_field="type", tag="assign"):
    """Assign, bulk-assign, reassign, or (agent_id null) unassign tickets (R5)."""

    command_id: Id
    account_id: AccountId
    actor_id: Id
    at: Timestamp
    ticket_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_BULK_TICKETS)] = msgspec.field(
        default_factory=list)
    agent_id: Id | None = None

    def __post_init__(self) -> None:
        if not self.ticket_ids:
            raise ValueError("ticket_ids: must name at least one ticket")


class TransferCommand(Wire, tag_field="type", tag="transfer"):
    """Move a ticket to a team, clearing its agent (R6)."""

    command_id: Id
    account_id: AccountId
    actor_id: Id
    at: Timestamp
    ticket_id: Id
    team_id: Id


class ReplyCommand(Wire, tag_field="type", tag="reply"):
    """An agent or the AI agent answers the customer (R7, C2)."""

    command_id: Id
    account_id: AccountId
    actor_id: Id
    at: Timestamp
    ticket_id: Id
    author_kind: Literal["agent", "ai"]
    text: Body


class SetStatusCommand(Wire, tag_field="type", tag="set_status"):
    """Open, snooze or close a ticket by hand."""

    command_id: Id
    account_id: AccountId
    actor_id: Id
    at: Timestamp
    ticket_id: Id
    status: TicketStatusName
    snooze_until: datetime | None = None


class SetTagsCommand(Wire, tag_field="type", tag="set_tags"):
    """Replace a ticket's tags; triggers `tags_changed` rules (R1)."""

    command_id: Id
    account_id: AccountId
    actor_id: Id
    at: Timestamp
    ticket_id: Id
    tags: Annotated[list[Label], msgspec.Meta(max_length=MAX_TAGS)]


TicketCommand = Union[
    AssignCommand, TransferCommand, ReplyCommand, SetStatusCommand, SetTagsCommand
]
