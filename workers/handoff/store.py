"""Handoff state in Redis: one outcome per handoff id, a lease while a replica works on
it, and the per-account counters of H8. The decisions are in the Lua scripts beside it.

Keys, all under the account's hash tag: `handoff:state:<id>` (hash: result, posts),
`handoff:lease:<id>` (string: owner), `handoff-outcomes`, `conversation-end:<conversation>`
and `conversation-ends`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import load_script

MARK_TTL_SECONDS = 30 * 86400
"""Outcomes outlive any realistic redelivery window, as ingest's dedup marks do."""

END_CLASSES = ("resolved", "message", "failed", "routed")
EndClass = Literal["resolved", "message", "failed", "routed"]


@dataclass(frozen=True, slots=True)
class Claim:
    """What `claim` found: an outcome to re-publish, a busy lease, or the lease is ours."""

    state: Literal["done", "busy", "claimed"]
    stored: str | None = None
    lease_left_ms: int = 0
    posts: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    fresh: bool
    stored: str
    ends: dict[str, int]


def _here(name: str) -> Path:
    return Path(__file__).with_name(name)


class HandoffStore:
    """The Redis side of the handoff worker and of `ticketflow handoff stats`."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._keys = Keys.of(settings)
        self._client = client
        self._claim = load_script(client, _here("claim.lua"))
        self._renew = load_script(client, _here("renew.lua"))
        self._finish = load_script(client, _here("finish.lua"))

    def _mark(self, account_id: str, handoff_id: str) -> str:
        return self._keys.handoff_state(account_id, handoff_id)

    def _lease(self, account_id: str, handoff_id: str) -> str:
        return self._keys.handoff_lease(account_id, handoff_id)  # a family of its own

    async def claim(self, account_id: str, handoff_id: str, owner: str,
                    lease_ms: int) -> Claim:
        mark = self._mark(account_id, handoff_id)
        state, value = await self._claim(keys=[mark, self._lease(account_id, handoff_id)],
                                         args=[owner, lease_ms])
        if state == "done":
            return Claim("done", stored=value)
        if state == "busy":
            return Claim("busy", lease_left_ms=max(0, int(value)))
        return Claim("claimed", posts=int(value))

    async def renew(self, account_id: str, handoff_id: str, owner: str, lease_ms: int) -> bool:
        lease = self._lease(account_id, handoff_id)
        return bool(await self._renew(keys=[lease], args=[owner, lease_ms]))

    async def note_post(self, account_id: str, handoff_id: str) -> None:
        """Record that a create call is about to leave: after a crash, look up first."""
        mark = self._mark(account_id, handoff_id)
        pipe = self._client.pipeline(transaction=True)
        pipe.hincrby(mark, "posts", 1)
        pipe.expire(mark, MARK_TTL_SECONDS)
        await pipe.execute()

    async def finish(self, account_id: str, handoff_id: str, owner: str, stored: str,
                     counts_field: str, conversation_id: str, end: EndClass) -> Finished:
        keys = self._keys
        mark = self._mark(account_id, handoff_id)
        raw = await self._finish(
            keys=[mark, self._lease(account_id, handoff_id), keys.handoff_outcomes(account_id),
                  keys.conversation_end(account_id, conversation_id),
                  keys.conversation_ends(account_id)],
            args=[owner, stored, MARK_TTL_SECONDS, counts_field, end])
        fresh, value, *flat = raw
        ends = {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Finished(fresh=bool(int(fresh)), stored=value, ends=ends)

    async def conversation_ends(self, account_id: str) -> dict[str, int]:
        """H8: AI conversations per end class (resolved, message, failed, routed)."""
        raw = await self._client.hgetall(self._keys.conversation_ends(account_id))
        return {end: int(raw.get(end, 0)) for end in END_CLASSES}

    async def outcome_counts(self, account_id: str) -> dict[str, int]:
        """Recorded outcomes per `<status>:<target>`."""
        raw = await self._client.hgetall(self._keys.handoff_outcomes(account_id))
        return {field: int(value) for field, value in sorted(raw.items())}
