"""Offline reassignment (SPEC R15): an agent offline for the account's
`reassign_offline_after_seconds` gives back every open ticket whose last message is the
customer's; the queue assigns them by the account's method (method `backlog`, reason
`agent_offline`). Tickets the agent (or anyone else) answered last stay theirs.

State lives in Redis, so a restarted router still fires: `offline_due` (`Keys.offline_due`)
holds each agent whose reassignment is scheduled, scored by when it is due. presence.lua
writes it when presence says the agent is gone (offline, logout) or, with a presence
timeout, from each sign of life (the agent counts offline `timeout` after it, R3), and
clears it when the agent comes back. Every router replica runs `sweep_offline`; the claim
(offline.lua) re-reads presence, acts and records what it did under a mark of the offline
episode in one script, so with several replicas one assigns and the others replay the same
events. The entry stays in `offline_due` under a short lease until its events are
published, so a replica that dies in between leaves it to the next sweep.

The pure rules here are what offline.lua does; tests/router/test_offline.py states them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from schemas.config import AccountDocument
from schemas.events import TicketAssigned
from workers.router.capacity import DEFAULT_PRIORITY, PRIORITY_RANK, queue_score
from workers.router.outputs import assignment_events, count_assignments
from workers.router.rotation import ACCOUNT_POOL, rotation_pool
from workers.router.store import routing_of
from workers.runtime.clock import Clock
from workers.runtime.failures import Backoff
from workers.runtime.ids import event_id
from workers.runtime.records import Outgoing
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.keys import Keys
from workers.state.presence import presence_cutoff
from workers.state.store import load_script
from workers.state.tickets import TicketHash

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_entries = msgspec.json.Decoder(list[TicketAssigned])
_encode = msgspec.json.Encoder().encode

MAX_IDLE = timedelta(seconds=30)
"""Longest sleep between looks at `offline_due`, so a settings change is noticed."""
LEASE = timedelta(seconds=30)
"""How long a claimed reassignment waits for its events to be published before another
sweep publishes them again (same event ids)."""


# --- the pure rules ---------------------------------------------------------------------


def offline_since(last_seen: float | None, offline_at: float | None,
                  timeout: int | None) -> float | None:
    """When the agent went offline as R3 counts it, in epoch seconds, or None while they
    are online for good (in the online set with no presence timeout) or were never seen.

    `last_seen`: the agent's score in the online set (absent: not online); `offline_at`:
    their last explicit offline or logout. With a timeout, an agent in the online set
    counts offline `timeout` seconds after their last sign of life (possibly later than
    now: then they are online until that instant).
    """
    if last_seen is not None:
        return None if timeout is None else last_seen + timeout
    return offline_at


def due_at(since: float | None, delay: int | None) -> float | None:
    """When R15 reassignment of an agent offline since `since` is due; None when it is off
    (`delay` None) or the agent is not offline."""
    if since is None or delay is None:
        return None
    return since + delay


def goes_back(ticket: TicketHash, agent_id: str) -> bool:
    """Whether an offline agent's ticket returns to the queue (R15): it is open, still
    theirs, and its last message is the customer's."""
    return (ticket.status == "open" and ticket.agent_id == agent_id
            and ticket.last_author == "customer")


def release_order(tickets: Iterable[TicketHash]) -> list[TicketHash]:
    """The tickets that go back, in the order they are offered to agents: the queue's
    (priority, then arrival; R12)."""
    return sorted(tickets, key=lambda t: queue_score(_priority(t), int(t.number)))


def _priority(ticket: TicketHash) -> Any:
    priority = ticket.priority or DEFAULT_PRIORITY
    return priority if priority in PRIORITY_RANK else DEFAULT_PRIORITY


# --- Redis ------------------------------------------------------------------------------


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def pools_of(account: AccountDocument) -> dict[str, list[str]]:
    """Every rotation of the account (each team's and the account's), agents in order."""
    pools = {team.id: rotation_pool(account, team.id) for team in account.teams}
    pools[ACCOUNT_POOL] = rotation_pool(account, None)
    return pools


class OfflineStore:
    """The claim of due reassignments (offline.lua) and the read of what is due."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self.keys = Keys.of(settings)
        self.client = client
        self._claim = load_script(client, _HERE / "offline.lua",
                                  preludes=_preludes())

    async def due(self, account_id: str, now: datetime) -> list[str]:
        """The agents whose reassignment is due by `now`."""
        return await self.client.zrangebyscore(self.keys.offline_due(account_id), "-inf",
                                               repr(now.timestamp()))

    async def next_due(self, account_id: str) -> float | None:
        """The earliest due time scheduled (epoch seconds), or None."""
        first = await self.client.zrange(self.keys.offline_due(account_id), 0, 0,
                                         withscores=True)
        return first[0][1] if first else None

    async def claim(self, account: AccountDocument, agent_id: str, now: datetime,
                    ) -> list[TicketAssigned] | None:
        """Reassign the agent's tickets if their reassignment is due (once per offline
        episode; a replay returns the same entries). None: not due (came back, rescheduled,
        or setting off)."""
        raw = await self._claim(
            keys=[self.keys.account(account.account_id),
                  self.keys.mark(account.account_id, "offline", agent_id, "")],
            args=["claim", account.account_id, agent_id, repr(now.timestamp()),
                  _rfc3339(now), str(account.reassign_offline_after_seconds or ""),
                  str(account.presence_timeout_seconds or ""),
                  _cutoff(account, now), repr((now + LEASE).timestamp()),
                  event_id("offline", account.account_id, agent_id)[:16] + "-",
                  _encode(pools_of(account)).decode(), routing_of(account)])
        return None if raw == "" else _entries.decode(raw)

    async def published(self, account: AccountDocument, agent_id: str, now: datetime) -> None:
        """The claimed reassignment's events are out: drop its lease (unless presence
        rescheduled the agent meanwhile)."""
        await self._claim(keys=[self.keys.account(account.account_id),
                                self.keys.mark(account.account_id, "offline", agent_id, "")],
                          args=["done", account.account_id, agent_id,
                                repr((now + LEASE).timestamp())])


def _cutoff(account: AccountDocument, now: datetime) -> str:
    cutoff = presence_cutoff(account, now)
    return "-1e18" if cutoff == float("-inf") else repr(cutoff)


def _preludes() -> tuple[str | Path, ...]:
    """The open counts (load.lua) and the router's rotation, as every routing script."""
    return ("load", _HERE / "rotation.lua")


async def sweep_offline(store: OfflineStore, registry: AccountRegistry, clock: Clock,
                        wakeups: Wakeups,
                        publish: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Each time an agent's reassignment is due, claim it and publish its events (every
    replica runs this; the claim's mark makes one of them assign). One account's failure is
    logged and retried on the next pass, never stopping the others; a Redis outage (the
    clock's read included) is waited out with the one backoff, never stopping the replica."""
    backoff = Backoff()
    idle: list[float] = []

    async def one_pass() -> None:
        idle[:] = [await _sweep_pass(store, registry, clock, publish)]

    await wakeups.start()
    try:
        while True:
            wakeups.clear()
            if await backoff.attempt("offline reassignment sweep", one_pass):
                await wakeups.wait(idle[0])
    finally:
        await wakeups.stop()


async def _sweep_pass(store: OfflineStore, registry: AccountRegistry, clock: Clock,
                      publish: Callable[[list[Outgoing]], Awaitable[None]]) -> float:
    """One pass over the accounts; returns the seconds until the next is due."""
    now = await clock.now()
    wake_at = now + MAX_IDLE
    for account in registry.all():
        if account.reassign_offline_after_seconds is None:
            continue
        try:
            later = await _sweep_account(store, account, now, publish)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("offline reassignment failed for %s; retrying",
                          account.account_id)
            wake_at = min(wake_at, now + timedelta(seconds=1))
            continue
        if later is not None:
            wake_at = min(wake_at, later)
    return (wake_at - now).total_seconds()


async def _sweep_account(store: OfflineStore, account: AccountDocument, now: datetime,
                         publish: Callable[[list[Outgoing]], Awaitable[None]],
                         ) -> datetime | None:
    for agent_id in await store.due(account.account_id, now):
        entries = await store.claim(account, agent_id, now)
        if entries is None:
            continue
        count_assignments(account.account_id, entries)
        await publish([out for e in entries for out in assignment_events(account, e)])
        await store.published(account, agent_id, now)
        log.info("offline reassignment %s %s: %d tickets back to the queue",
                 account.account_id, agent_id, len(entries))
    later = await store.next_due(account.account_id)
    return None if later is None else datetime.fromtimestamp(later, now.tzinfo)
