"""The agents view (`ticketflow agents`): each agent's presence, open tickets per channel
against capacity, skills and last automatic assignment (R3, R11, R13, R14, R15), read
straight from Redis beside the account document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from schemas.config import AccountDocument
from workers.router.capacity import CHANNELS
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.presence import presence_cutoff
from workers.state.store import OrderedCalls


class ChannelLoad(msgspec.Struct, frozen=True, kw_only=True):
    """Open tickets of an agent on one channel and the most they take automatically
    (None: unlimited)."""

    channel: str
    open: int
    capacity: int | None


class AgentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as `ticketflow agents` shows them."""

    agent_id: str
    name: str
    role: str
    status: Literal["online", "offline"]
    last_seen: str | None
    """Last sign of life (RFC 3339) while in the online set."""
    load: list[ChannelLoad]
    skills: dict[str, int]
    last_auto_at: str | None
    """When they last got a ticket automatically (R13); None: never."""
    reassign_due: str | None = None
    """When their waiting tickets go back to the queue (R15), if scheduled."""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def agent_row(agent: Any, *, seen: float | None, cutoff: float, load: dict[str, str],
              last_auto_at: str | None, due: float | None) -> AgentRow:
    """An agent of the document with what Redis holds of them (pure)."""
    online = seen is not None and seen >= cutoff
    return AgentRow(
        agent_id=agent.id, name=agent.name, role=agent.role,
        status="online" if online else "offline",
        last_seen=None if seen is None else _iso(seen),
        load=[ChannelLoad(channel=c, open=int(load.get(c, 0) or 0),
                          capacity=agent.capacity.on(c)) for c in CHANNELS],
        skills=dict(agent.skills), last_auto_at=last_auto_at or None,
        reassign_due=None if due is None else _iso(due))


async def list_agents(client: Any, settings: Settings, account: AccountDocument,
                      now: datetime) -> list[AgentRow]:
    """Every agent of the account, in document order."""
    keys = Keys.of(settings)
    account_id = account.account_id
    calls = OrderedCalls(client)
    for agent in account.agents:
        calls.command("zscore", keys.online(account_id), agent.id)
        calls.command("hgetall", keys.load(account_id, agent.id))
        calls.command("hget", keys.last_auto_at(account_id), agent.id)
        calls.command("zscore", keys.offline_due(account_id), agent.id)
    answers = await calls.execute()
    cutoff = presence_cutoff(account, now)
    return [agent_row(agent, seen=answers[4 * i], cutoff=cutoff, load=answers[4 * i + 1],
                      last_auto_at=answers[4 * i + 2], due=answers[4 * i + 3])
            for i, agent in enumerate(account.agents)]
