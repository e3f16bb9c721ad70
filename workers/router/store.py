"""Router's Redis I/O: the rotation scripts, presence, tags, and ticket reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from schemas.config import AccountDocument
from schemas.events import TicketAssigned
from workers.router.capacity import CHANNELS
from workers.router.commands import AssignStep
from workers.router.decide import CreationPlan
from workers.runtime.settings import Settings
from workers.state.keys import Keys, MarkKind
from workers.state.presence import presence_cutoff
from workers.state.store import load_script, script_per_account

_HERE = Path(__file__).parent
_entry = msgspec.json.Decoder(TicketAssigned)
_entries = msgspec.json.Decoder(list[TicketAssigned])
_step_results = msgspec.json.Decoder(list[TicketAssigned | str | list[str]])
_encode = msgspec.json.Encoder().encode
MISSING = "missing"


class RouteStep(msgspec.Struct, frozen=True, tag_field="op", tag="route"):
    """Route a new ticket by its plan (`route_new.lua`)."""

    ticket_id: str
    event_id: str
    team_id: str
    agent_id: str
    rule_id: str
    mode: str
    pool: str
    pool_agents: list[str]
    priority: str = ""
    skills: list[str] = []


class ReadStep(msgspec.Struct, frozen=True, tag_field="op", tag="read"):
    """Read who holds a ticket and which message opened it."""

    ticket_id: str


Step = RouteStep | ReadStep
StepResult = TicketAssigned | str | None | tuple[str, str]
"""A route step's change (None: unchanged, MISSING), or a read step's
(agent id, opening message id), '' where unset."""


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _cutoff(account: AccountDocument, now: datetime) -> str:
    cutoff = presence_cutoff(account, now)
    return "-1e18" if cutoff == float("-inf") else repr(cutoff)


class DrainPool(msgspec.Struct, frozen=True):
    """One pool a drain serves: its agents in order, its mark, its event id prefix."""

    pool: str
    agents: list[str]
    mark: str
    prefix: str


class AgentRouting(msgspec.Struct, frozen=True, omit_defaults=True):
    """What rotation.lua needs of one agent: capacity per channel and skills."""

    capacity: dict[str, int] = {}
    skills: list[str] = []


class Routing(msgspec.Struct, frozen=True):
    """An account's load-aware settings as rotation.lua `use_routing` reads them."""

    method: str
    solo: bool
    agents: dict[str, AgentRouting]


def routing_of(account: AccountDocument) -> str:
    """The account document's capacities, skills and method for the scripts (JSON); agents
    without either are left out (no capacity, no skills)."""
    agents = {}
    for agent in account.agents:
        capacity = {c: n for c in CHANNELS if (n := agent.capacity.on(c)) is not None}
        if capacity or agent.skills:
            agents[agent.id] = AgentRouting(capacity=capacity, skills=sorted(agent.skills))
    return _encode(Routing(method=account.assignment_method, solo=len(account.agents) == 1,
                           agents=agents)).decode()


def _load(client: Any, name: str) -> Any:
    """A router script with the rotation prelude in front of it."""
    return load_script(client, _HERE / name, preludes=("load", _HERE / "rotation.lua"))


class ReplyOutcome(msgspec.Struct, frozen=True):
    entry: str | None = None
    countdown_version: int | None = None
    countdown_started_at: str | None = None


_reply = msgspec.json.Decoder(ReplyOutcome)


class RouterStore:
    """Atomic routing steps; each returns the ticket.assigned entry it recorded, if any."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.keys = Keys.of(settings)
        self._route_new = _load(client, "route_new.lua")
        self._assign = _load(client, "assign.lua")
        self._drain = _load(client, "drain.lua")
        self._reply = _load(client, "reply.lua")
        self._presence = load_script(client, _HERE / "presence.lua")

    def base(self, account_id: str) -> str:
        return self.keys.account(account_id)

    def mark(self, account_id: str, kind: MarkKind, *parts: str) -> str:
        """The dedup mark of one command or drain (`Keys.mark`)."""
        return self.keys.mark(account_id, kind, *parts)

    @staticmethod
    def route_step(ticket_id: str, plan: CreationPlan, event_id: str) -> RouteStep:
        return RouteStep(ticket_id, event_id, plan.team_id or "", plan.agent_id or "",
                         plan.rule_id or "", plan.mode, plan.pool, plan.pool_agents,
                         plan.priority, plan.skills)

    async def route_and_read(self, steps: list[tuple[AccountDocument, Step]],
                             now: datetime) -> list[StepResult]:
        """Run the steps in order: one script call per account, one round trip where the
        server allows. Results come back in the order of `steps`."""

        def call(account_id: str, indexes: list[int]) -> tuple[list[str], list[str]]:
            account = steps[indexes[0]][0]
            return ([self.base(account_id)],
                    [account_id, _rfc3339(now), _cutoff(account, now),
                     _encode([steps[i][1] for i in indexes]).decode(), routing_of(account)])

        return await script_per_account(
            self.client, self._route_new, [account.account_id for account, _ in steps], call,
            _decode_step_results)

    async def assign(self, account: AccountDocument, step: AssignStep,
                     ) -> TicketAssigned | str | None:
        """Apply one responsibility change once, under its mark (`assign.lua`)."""
        raw = await self._assign(
            keys=[self.base(account.account_id),
                  self.mark(account.account_id, step.mark_kind, *step.mark_parts)],
            args=[account.account_id, step.ticket_id, step.event_id, _rfc3339(step.at),
                  step.mode, step.actor or "", step.method, step.team_id or "",
                  step.agent_id or "", step.rule_id or "", step.pool or "",
                  _cutoff(account, step.now), routing_of(account), *step.pool_agents])
        return decode_entry(raw)

    async def drain(self, account: AccountDocument, pools: list[DrainPool], *,
                    reason: str, at: datetime, now: datetime,
                    limit: int = 1000) -> list[TicketAssigned]:
        """Assign the queue's tickets of these pools that an eligible agent can take now,
        by priority then arrival, once per trigger: each pool's mark keeps what it assigned
        (`drain.lua`)."""
        raw = await self._drain(
            keys=[self.base(account.account_id), *[p.mark for p in pools]],
            args=[account.account_id, _rfc3339(at), "", str(limit), reason,
                  _cutoff(account, now), routing_of(account),
                  _encode([{"pool": p.pool, "agents": p.agents, "prefix": p.prefix}
                           for p in pools]).decode()])
        return _entries.decode(raw) if raw != "{}" and raw != "[]" else []

    async def queue_size(self, account_id: str) -> int:
        """How many tickets wait in the account's queue (R12)."""
        return int(await self.client.zcard(self.keys.queue(account_id)))

    async def reply(self, account_id: str, ticket_id: str, *, mark: str, may_claim: bool,
                    actor: str, event_id: str, at: datetime, email_message_id: str,
                    author_kind: str = "agent") -> ReplyOutcome | None:
        raw = await self._reply(
            keys=[self.base(account_id), mark],
            args=[account_id, ticket_id, "1" if may_claim else "0", actor, event_id,
                  _rfc3339(at), email_message_id, author_kind])
        if raw == MISSING:
            return None
        outcome = _reply.decode(raw)
        return outcome

    async def set_presence(self, account_id: str, agent_id: str, status: str,
                           seen_at: datetime, *, reassign_after: int | None = None,
                           presence_timeout: int | None = None) -> bool:
        """online: in the set with its last sign of life; heartbeat: the same, unless the
        agent went offline at that time or later (then False: nothing changed);
        offline/logout: out of the set (`presence.lua`). With `reassign_after` (R15) the
        agent's offline reassignment is scheduled or cleared (`offline_due`)."""
        raw = await self._presence(
            keys=[self.keys.online(account_id), self.keys.offline(account_id),
                  self.keys.offline_due(account_id)],
            args=[agent_id, status, repr(seen_at.timestamp()),
                  "" if reassign_after is None else str(reassign_after),
                  "" if presence_timeout is None else str(presence_timeout)])
        return raw != "stale"

    async def applied(self, mark: str) -> bool:
        """Whether the step this mark names was applied (a redelivery replays it)."""
        return bool(await self.client.exists(mark))

    async def set_tags(self, account_id: str, ticket_id: str, tags: list[str]) -> None:
        await self.client.hset(self.keys.ticket(account_id, ticket_id), "tags",
                               msgspec.json.encode(tags).decode())


def _decode_step_results(raw: str) -> list[StepResult]:
    """Read steps answer [agent, opening message]; route steps an entry, '' or MISSING."""
    return [tuple(r) if isinstance(r, list) else r or None  # type: ignore[misc]
            for r in _step_results.decode(raw)]


def decode_entry(raw: str) -> TicketAssigned | str | None:
    """A script's answer: the change it recorded, None for no change, or MISSING."""
    if raw == MISSING:
        return MISSING
    if not raw:
        return None
    return _entry.decode(raw)
