"""Inbox views and the ticket overview (R10), read straight from Redis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from schemas.events import TicketAssigned
from workers.runtime.settings import Settings
from workers.state.store import OrderedCalls, account_base, ticket_key

View = Literal["all", "mine", "unassigned"]
_history = msgspec.json.Decoder(TicketAssigned)


class TicketRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an inbox view."""

    ticket_id: str
    number: int
    created_at: str
    channel: str
    status: str
    customer: str
    customer_ticket_count: int
    team_id: str | None
    agent_id: str | None


class TicketOverview(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about one ticket an agent needs at a glance, with its history (R9)."""

    ticket: TicketRow
    subject: str | None
    history: list[TicketAssigned]


def _row(fields: dict[str, str]) -> TicketRow:
    return TicketRow(
        ticket_id=fields["ticket_id"], number=int(fields["number"]),
        created_at=fields.get("created_at", ""), channel=fields.get("channel", ""),
        status=fields.get("status", ""),
        customer=fields.get("customer_phone") or fields.get("customer_email")
        or fields.get("customer_name") or fields.get("profile_id") or "",
        customer_ticket_count=int(fields.get("customer_ticket_count", "0")),
        team_id=fields.get("team_id") or None, agent_id=fields.get("agent_id") or None)


async def list_tickets(client: Any, settings: Settings, account_id: str, view: View = "all", *,
                       agent_id: str | None = None, statuses: Sequence[str] = ("open",),
                       team_id: str | None = None, channel: str | None = None,
                       ) -> list[TicketRow]:
    """All / Mine (assigned to `agent_id`) / Unassigned, open tickets by default, filterable
    by status, team and channel; oldest first."""
    if view == "mine" and not agent_id:
        raise ValueError("view 'mine' needs the agent it belongs to")
    base = account_base(settings, account_id)
    ids: list[tuple[str, float]] = []
    for status in statuses:
        ids += await client.zrange(f"{base}:status:{status}", 0, -1, withscores=True)
    ids.sort(key=lambda pair: pair[1])
    calls = OrderedCalls(client)
    for ticket_id, _ in ids:
        calls.command("hgetall", ticket_key(settings, account_id, ticket_id))
    rows = [_row(fields) for fields in await calls.execute() if fields]
    return [r for r in rows
            if (view != "mine" or r.agent_id == agent_id)
            and (view != "unassigned" or r.agent_id is None)
            and (team_id is None or r.team_id == team_id)
            and (channel is None or r.channel == channel)]


async def ticket_overview(client: Any, settings: Settings, account_id: str,
                          ticket_id: str) -> TicketOverview | None:
    """The overview of one ticket of the account, or None if the account has no such ticket."""
    fields = await client.hgetall(ticket_key(settings, account_id, ticket_id))
    if not fields:
        return None
    history = await client.lrange(f"{account_base(settings, account_id)}:history:{ticket_id}",
                                  0, -1)
    return TicketOverview(ticket=_row(fields), subject=fields.get("subject") or None,
                          history=[_history.decode(h) for h in history])
