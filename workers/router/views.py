"""Inbox views and the ticket overview (R10), read straight from Redis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from schemas.events import TicketAssigned
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import OrderedCalls
from workers.state.tickets import TicketHash, decode_ticket

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
    priority: str | None = None
    """Set by the matching rule when the ticket was routed (R12); None: normal."""


class TicketOverview(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about one ticket an agent needs at a glance, with its history (R9)."""

    ticket: TicketRow
    subject: str | None
    history: list[TicketAssigned]


def _row(ticket: TicketHash) -> TicketRow:
    return TicketRow(
        ticket_id=ticket.ticket_id, number=int(ticket.number),
        created_at=ticket.created_at, channel=ticket.channel, status=ticket.status,
        customer=ticket.customer_phone or ticket.customer_email or ticket.customer_name
        or ticket.profile_id or "",
        customer_ticket_count=int(ticket.customer_ticket_count),
        team_id=ticket.team_id or None, agent_id=ticket.agent_id or None,
        priority=ticket.priority or None)


async def list_tickets(client: Any, settings: Settings, account_id: str, view: View = "all", *,
                       agent_id: str | None = None, statuses: Sequence[str] = ("open",),
                       team_id: str | None = None, channel: str | None = None,
                       ) -> list[TicketRow]:
    """All / Mine (assigned to `agent_id`) / Unassigned, open tickets by default, filterable
    by status, team and channel; oldest first. Unassigned lists the waiting tickets first,
    in queue order (priority, then arrival: the order they will be assigned, R12), then
    the other unassigned ones (no automatic assignment for them), oldest first."""
    if view == "mine" and not agent_id:
        raise ValueError("view 'mine' needs the agent it belongs to")
    keys = Keys.of(settings)
    ids: list[tuple[str, float]] = []
    for status in statuses:
        ids += await client.zrange(keys.status_view(account_id, status), 0, -1,
                                   withscores=True)
    ids.sort(key=lambda pair: pair[1])
    if view == "unassigned":
        ids = queue_first(await _queue(client, keys, account_id), ids)
    calls = OrderedCalls(client)
    for ticket_id, _ in ids:
        calls.command("hgetall", keys.ticket(account_id, ticket_id))
    rows = [_row(ticket) for fields in await calls.execute()
            if (ticket := decode_ticket(fields)) is not None]
    return [r for r in rows
            if (view != "mine" or r.agent_id == agent_id)
            and (view != "unassigned" or r.agent_id is None)
            and (team_id is None or r.team_id == team_id)
            and (channel is None or r.channel == channel)]


async def _queue(client: Any, keys: Keys, account_id: str) -> list[str]:
    """The waiting tickets' ids in queue order (R12): the one place the views read the queue."""
    return list(await client.zrange(keys.queue(account_id), 0, -1))


async def list_waiting(client: Any, settings: Settings, account_id: str) -> list[TicketRow]:
    """The tickets waiting for an agent (R12), in the order they will be assigned."""
    keys = Keys.of(settings)
    calls = OrderedCalls(client)
    for ticket_id in await _queue(client, keys, account_id):
        calls.command("hgetall", keys.ticket(account_id, ticket_id))
    return [_row(ticket) for fields in await calls.execute()
            if (ticket := decode_ticket(fields)) is not None]


def queue_first(queue: Sequence[str], ids: list[tuple[str, float]],
                ) -> list[tuple[str, float]]:
    """`ids` (oldest first) with those waiting in the queue moved to the front, in queue
    order."""
    present = {pair[0]: pair for pair in ids}
    waiting = [present[t] for t in queue if t in present]
    queued = set(queue)
    return waiting + [pair for pair in ids if pair[0] not in queued]


async def ticket_overview(client: Any, settings: Settings, account_id: str,
                          ticket_id: str) -> TicketOverview | None:
    """The overview of one ticket of the account, or None if the account has no such ticket."""
    keys = Keys.of(settings)
    ticket = decode_ticket(await client.hgetall(keys.ticket(account_id, ticket_id)))
    if ticket is None:
        return None
    history = await client.lrange(keys.history(account_id, ticket_id), 0, -1)
    return TicketOverview(ticket=_row(ticket), subject=ticket.subject or None,
                          history=[_history.decode(h) for h in history])
