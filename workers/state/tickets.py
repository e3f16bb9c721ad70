"""Ticket state shared by the worker kinds: reading a ticket, changing its status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import load_script

Status = Literal["open", "snoozed", "closed"]


class TicketHash(msgspec.Struct, frozen=True, kw_only=True):
    """The ticket hash (`Keys.ticket`) as the Lua scripts write it, values as Redis returns
    them (strings). Internal state, not the public contract: the events carry that.

    ingest.lua creates it (the fields without a default, and the customer and content
    fields it has a value for) and counts messages; the router scripts set the routing
    fields; set_status.lua, ingest.lua and close.lua change the status.
    """

    ticket_id: str
    number: str
    status: str
    created_at: str
    version: str
    customer_key: str = ""
    customer_ticket_count: str = "0"
    # content of the opening message (ingest.lua)
    channel: str = ""
    thread_key: str | None = None
    customer_phone: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    profile_id: str | None = None
    subject: str | None = None
    body: str = ""
    tags: str = "[]"
    """JSON array of strings; also replaced by a set_tags command (RouterStore.set_tags)."""
    segments: str = "[]"
    """JSON array of strings."""
    opening_message_id: str | None = None
    # activity (ingest.lua, reply.lua)
    last_customer_at: str | None = None
    message_count: str = "0"
    reply_count: str = "0"
    countdown_started_at: str | None = None
    # routing (route_new.lua, rotation.lua)
    routed: str | None = None
    route_entry: str | None = None
    team_id: str | None = None
    agent_id: str | None = None
    backlog: str | None = None
    priority: str | None = None
    """urgent | high | normal | low, when a rule gave one (R12; none: `normal`)."""
    skills: str | None = None
    """JSON array of the skills its agent needs (R14), when a rule asked for some."""
    # load (workers/state/lua/load.lua): what the agent's open count counts it as (R11)
    counted_agent: str | None = None
    counted_channel: str | None = None
    last_author: str | None = None
    """Who wrote the last message: `customer`, `agent` or `ai` (ingest.lua, reply.lua; R15)."""
    # closing (close.lua)
    closed_at: str | None = None
    closed_reason: str | None = None


def decode_ticket(fields: dict[str, str]) -> TicketHash | None:
    """A ticket from its hash as HGETALL returns it (None for no hash); fields the Struct
    does not know are ignored."""
    return msgspec.convert(fields, TicketHash) if fields else None


class TicketStore:
    """Reads and status changes of tickets, atomic with their status views."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._keys = Keys.of(settings)
        self._client = client
        self._set_status = load_script(client, Path(__file__).with_name("set_status.lua"),
                                       preludes=("load", "status_view"))

    async def get(self, account_id: str, ticket_id: str) -> TicketHash | None:
        """The ticket, or None if the account has no such ticket."""
        return decode_ticket(await self._client.hgetall(self._keys.ticket(account_id, ticket_id)))

    async def set_status(self, account_id: str, ticket_id: str, status: Status, *,
                         at: datetime, mark: str = "") -> str | None:
        """Set the status at instant `at` (the worker's clock: a closed ticket's retention
        runs from it); returns the previous one, or None if the ticket does not exist.

        With a `mark` (a `Keys.mark(..., "set_status", command_id)`) the change is applied
        once and a replay gets the first answer back.
        """
        keys = [self._keys.account(account_id), *([mark] if mark else [])]
        previous = await self._set_status(keys=keys, args=[ticket_id, status, at.timestamp()])
        return previous or None

