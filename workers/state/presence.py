"""Who is online (R3): the read side, shared by router and handoff.

`tf:{acme}:online` (`Keys.online`) is a sorted set of online agents scored by their last
sign of life (epoch seconds); logout/offline removes the agent and notes its time in
`tf:{acme}:offline`, so that no earlier heartbeat brings it back. With a presence timeout,
an agent whose last sign of life is older than the timeout counts as offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.config import AccountDocument
from workers.runtime.settings import Settings
from workers.state.keys import Keys


def presence_cutoff(account: AccountDocument, now: datetime) -> float:
    """The oldest last-sign-of-life that still counts as online."""
    if account.presence_timeout_seconds is None:
        return float("-inf")
    return now.timestamp() - account.presence_timeout_seconds


async def online_agents(client: Any, settings: Settings, account: AccountDocument,
                        now: datetime) -> list[str]:
    """Agents of the account that are online at `now`, in account-document order."""
    cutoff = presence_cutoff(account, now)
    members = await client.zrangebyscore(Keys.of(settings).online(account.account_id),
                                         "-inf" if cutoff == float("-inf") else cutoff, "+inf")
    present = set(members)
    return [agent.id for agent in account.agents if agent.id in present]
