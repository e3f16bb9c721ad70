"""Round robin (R2): who may receive a ticket automatically, and the pure rotation rule
that `rotation.lua` implements atomically in Redis."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.config import ASSIGNING_ROLES, AccountDocument

ACCOUNT_POOL = "_account"
"""The rotation of tickets that have no team: every eligible agent of the account."""


def rotation_pool(account: AccountDocument, team_id: str | None) -> list[str]:
    """Agents that take turns for a team (or the whole account), in document order.

    Read-only roles (e.g. `analyst`) are not handed tickets.
    """
    return [a.id for a in account.agents
            if a.role in ASSIGNING_ROLES and (team_id is None or team_id in a.teams)]


def pool_key(team_id: str | None) -> str:
    """The cursor/backlog name of a team's rotation."""
    return team_id if team_id is not None else ACCOUNT_POOL


def next_in_rotation(pool: Sequence[str], online: set[str], last: str | None) -> str | None:
    """The first online agent after `last` in pool order, wrapping; None if nobody is online.

    Keeping the cursor as "the last agent served" (not an index) keeps the rotation fair
    when agents join or leave the online set.
    """
    if not pool:
        return None
    start = pool.index(last) + 1 if last in pool else 0
    for i in range(len(pool)):
        candidate = pool[(start + i) % len(pool)]
        if candidate in online:
            return candidate
    return None
