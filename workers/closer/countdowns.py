"""The closer's Redis I/O for one account's countdowns.

Keys (`workers.state.keys`), all under the account's hash tag so each script touches one
Redis Cluster slot:
- `tf:{acme}:countdowns` hash: ticket id -> countdown (`<version> <started> <typing>`)
- `tf:{acme}:timers` zset: ticket id, score = when the period would have started for the
  ticket to be due now (its start, or later when typing postponed it). Scoring by start
  rather than by deadline lets the fire loop apply the account's *current* period at fire
  time: due means `score <= now - period`, so a settings change needs no rescoring (C6).
- `tf:{acme}:closing` zset: `<ticket> <version> <previous status> <closed at>`, score = lease
  expiry: closes whose events are not yet acknowledged as published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from workers.closer.deadline import Countdown, TicketState
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import OrderedCalls, load_script

_HERE = Path(__file__).parent


class DueCountdown(msgspec.Struct, frozen=True):
    """A countdown that looks due, with what a decision about it needs."""

    ticket_id: str
    stored: str
    """The countdown exactly as stored ('' if missing): the compare-and-set token."""
    countdown: Countdown | None
    ticket: TicketState | None


class PendingClose(msgspec.Struct, frozen=True):
    """A close done in Redis whose events may not be published yet."""

    member: str
    ticket_id: str
    version: int
    previous_status: str
    closed_at: datetime

    @classmethod
    def parse(cls, member: str) -> PendingClose:
        ticket_id, version, previous, closed = member.split(" ")
        return cls(member, ticket_id, int(version), previous,
                   datetime.fromtimestamp(float(closed), UTC))


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class CountdownStore:
    """Countdowns of every account: recording activity, finding due ones, closing."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._keys = Keys.of(settings)
        self._client = client
        self._schedule = load_script(client, _HERE / "schedule.lua")
        self._cancel = load_script(client, _HERE / "cancel.lua")
        self._typing = load_script(client, _HERE / "typing.lua")
        self._close = load_script(client, _HERE / "close.lua", preludes=("load", "status_view"))
        self._reschedule = load_script(client, _HERE / "reschedule.lua")

    def base(self, account_id: str) -> str:
        return self._keys.account(account_id)

    def pipeline(self) -> OrderedCalls:
        """Calls run in the order queued: one pipeline on a single server; on a cluster each
        account's calls one after another (different accounts concurrently)."""
        return OrderedCalls(self._client)

    # -- activity, from the `timers` topic (queued by the caller) -----------------------

    async def start(self, calls: OrderedCalls, account_id: str, ticket_id: str, version: int,
                    started_at: datetime) -> None:
        countdown = Countdown(version, started_at)
        calls.script(self._schedule, [self.base(account_id)],
                     [ticket_id, version, countdown.encode(), repr(started_at.timestamp())])

    async def cancel(self, calls: OrderedCalls, account_id: str, ticket_id: str,
                     version: int) -> None:
        calls.script(self._cancel, [self.base(account_id)], [ticket_id, version])

    async def typing(self, calls: OrderedCalls, account_id: str, ticket_id: str,
                     at: datetime) -> None:
        calls.script(self._typing, [self.base(account_id)], [ticket_id, repr(at.timestamp())])

    # -- firing -------------------------------------------------------------------------

    async def due(self, account_id: str, cutoff: float, limit: int) -> list[DueCountdown]:
        """Countdowns whose score is at or before `cutoff` (now minus the period)."""
        keys = self._keys
        ids: list[str] = await self._client.zrangebyscore(keys.timers(account_id), "-inf",
                                                          cutoff, start=0, num=limit)
        if not ids:
            return []
        calls = OrderedCalls(self._client)
        calls.command("hmget", keys.countdowns(account_id), ids)
        for ticket_id in ids:
            calls.command("hmget", keys.ticket(account_id, ticket_id), ["version", "status"])
        stored, *tickets = await calls.execute()
        out = []
        for ticket_id, raw, (version, status) in zip(ids, stored, tickets, strict=True):
            out.append(DueCountdown(
                ticket_id=ticket_id, stored=raw or "",
                countdown=Countdown.decode(raw) if raw else None,
                ticket=None if version is None else TicketState(int(version), status)))
        return out

    async def close(self, calls: OrderedCalls, account_id: str, due: DueCountdown,
                    now: datetime, lease_until: float) -> None:
        """Queue the claim-and-close of one countdown; the result is the `:closing` member
        or None when the countdown or ticket changed since `due` was read."""
        calls.script(self._close, [self.base(account_id)],
                     [due.ticket_id, due.stored, repr(now.timestamp()), rfc3339(now),
                      repr(lease_until)])

    async def reschedule(self, calls: OrderedCalls, account_id: str, due: DueCountdown,
                         score: float | None) -> None:
        """Queue moving a countdown to a new score, or dropping it (score None)."""
        calls.script(self._reschedule, [self.base(account_id)],
                     [due.ticket_id, due.stored, "" if score is None else repr(score)])

    async def expired_closes(self, account_id: str, now: float,
                             limit: int) -> list[PendingClose]:
        """Closes whose publisher did not acknowledge them before the lease ran out."""
        members = await self._client.zrangebyscore(self._keys.closing(account_id),
                                                   "-inf", now, start=0, num=limit)
        return [PendingClose.parse(m) for m in members]

    async def acknowledge(self, account_id: str, closes: list[PendingClose]) -> None:
        """The closes' events are published: forget them."""
        if closes:
            await self._client.zrem(self._keys.closing(account_id),
                                    *[c.member for c in closes])

    async def earliest(self, account_id: str) -> tuple[float | None, float | None]:
        """(lowest timer score, earliest closing lease) of the account, None where empty."""
        calls = OrderedCalls(self._client)
        calls.command("zrange", self._keys.timers(account_id), 0, 0, withscores=True)
        calls.command("zrange", self._keys.closing(account_id), 0, 0, withscores=True)
        timers, closing = await calls.execute()
        return (timers[0][1] if timers else None, closing[0][1] if closing else None)
