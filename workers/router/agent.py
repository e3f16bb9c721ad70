"""The router worker: new tickets, commands and presence become responsibility changes,
replies, status changes and notifications (R1-R10, N1, A1, A3)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from schemas.agent_app import (
    AssignCommand,
    Presence,
    ReplyCommand,
    SetStatusCommand,
    SetTagsCommand,
    TransferCommand,
)
from schemas.config import AccountDocument
from schemas.events import (
    CommandRejected,
    TicketAssigned,
    TicketCreated,
    TicketMessage,
    TicketStatus,
)
from schemas.internal import CountdownStart
from workers.router.decide import (
    notifications_for_change,
    notify,
    plan_new_ticket,
    refuse_assignment,
    refuse_reply,
    reply_claims,
    team_members,
)
from workers.router.opening import drain_pools, sweep_openings
from workers.router.rotation import pool_key, rotation_pool
from workers.router.rules import TicketFacts, route
from workers.router.store import MISSING, ReadStep, RouterStore, Step
from workers.runtime.clock import Clock, ControlledClock, make_clock
from workers.runtime.consumer import ConsumerLoop
from workers.runtime.deadletter import dead_letter
from workers.runtime.ids import event_id
from workers.runtime.metrics import ASSIGNMENTS
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.business_hours import is_open
from workers.state.store import connect, connect_pubsub
from workers.state.tickets import TicketStore

log = logging.getLogger(__name__)
_strings = msgspec.json.Decoder(list[str])


def _is_customer_message(value: Any) -> bool:
    return (isinstance(value, TicketMessage) and value.direction == "inbound"
            and value.author_kind == "customer")


def _rejected(account_id: str, command_id: str, ticket_id: str | None, reason: str,
              at: Any, key: str) -> Outgoing:
    return Outgoing("tickets.events", key, CommandRejected(
        event_id=event_id("command.rejected", account_id, command_id, ticket_id),
        account_id=account_id, command_id=command_id, ticket_id=ticket_id, reason=reason, at=at))


class RouterHandler:
    """Applies one batch in record order; every step is idempotent (marks in Redis)."""

    worker = "router"
    topics = ("tickets.events", "tickets.commands", "agents.presence")

    def __init__(self, store: RouterStore, tickets: TicketStore, registry: AccountRegistry,
                 clock: Clock) -> None:
        self.store = store
        self.tickets = tickets
        self.registry = registry
        self.clock = clock

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        """Records in order; runs of new tickets and customer messages share one Redis round
        trip (a pipeline keeps their order), anything else is applied one by one."""
        out: list[Outgoing] = []
        await self.registry.known_accounts({i.value.account_id for i in batch})
        run: list[tuple[AccountDocument, Any]] = []
        for item in batch:
            value = item.value
            account = self.registry.get(value.account_id)
            if account is None:
                out.append(dead_letter(item.record, f"account_id: unknown account "
                                       f"{value.account_id!r}", self.worker))
            elif isinstance(value, TicketCreated) or _is_customer_message(value):
                run.append((account, value))
            else:
                out.extend(await self.on_ticket_events(run))
                run = []
                out.extend(await self._dispatch(account, value))
        out.extend(await self.on_ticket_events(run))
        return out

    async def on_ticket_events(self, run: list[tuple[AccountDocument, Any]]) -> list[Outgoing]:
        """New tickets get routed (R1, R2, R4, R8); customer replies notify the assignee
        unless the message is the ticket's opening one (N1)."""
        if not run:
            return []
        now = await self.clock.now()
        steps: list[tuple[AccountDocument, Step]] = []
        for account, ev in run:
            if isinstance(ev, TicketCreated):
                facts = TicketFacts(channel=ev.channel, tags=tuple(ev.tags),
                                    segments=tuple(ev.segments), subject=ev.subject or "",
                                    body=ev.body or "")
                plan = plan_new_ticket(account, facts, is_open(account.business_hours, now))
                steps.append((account, self.store.route_step(
                    ev.ticket_id, plan, event_id("ticket.assigned", ev.event_id))))
            else:
                steps.append((account, ReadStep(ev.ticket_id)))
        out: list[Outgoing] = []
        for (account, ev), result in zip(run, await self.store.route_and_read(steps, now),
                                         strict=True):
            if isinstance(ev, TicketCreated):
                out += self._changed(account, result, new_ticket=True)  # type: ignore[arg-type]
            elif isinstance(result, tuple) and result[0] and result[1] != ev.message_id:
                out += self._notices(notify(account, [result[0]], "customer_replied",
                                            ev.ticket_id, ev.event_id, ev.at))
        return out

    async def _dispatch(self, account: AccountDocument, value: Any) -> list[Outgoing]:
        if isinstance(value, TicketStatus):
            return await self.on_reopened(account, value) if value.reason == "reopened" else []
        if isinstance(value, AssignCommand):
            return await self.on_assign(account, value)
        if isinstance(value, TransferCommand):
            return await self.on_transfer(account, value)
        if isinstance(value, ReplyCommand):
            return await self.on_reply(account, value)
        if isinstance(value, SetStatusCommand):
            return await self.on_set_status(account, value)
        if isinstance(value, SetTagsCommand):
            return await self.on_set_tags(account, value)
        if isinstance(value, Presence):
            return await self.on_presence(account, value)
        return []  # our own assigned/rejected events come back on tickets.events

    # --- tickets.events -------------------------------------------------------------------

    async def on_reopened(self, account: AccountDocument, ev: TicketStatus) -> list[Outgoing]:
        ticket = await self.tickets.get(account.account_id, ev.ticket_id)
        agent = ticket.agent_id if ticket else None
        audience = [agent] if agent else team_members(account, ticket and ticket.team_id)
        return self._notices(notify(account, audience, "reopened", ev.ticket_id, ev.event_id,
                                    ev.at))

    # --- tickets.commands -----------------------------------------------------------------

    async def on_assign(self, account: AccountDocument, cmd: AssignCommand) -> list[Outgoing]:
        refusal = refuse_assignment(account, cmd.actor_id)
        if refusal is None and cmd.agent_id is not None and account.agent(cmd.agent_id) is None:
            refusal = f"agent {cmd.agent_id!r} is not an agent of account {account.account_id!r}"
        out: list[Outgoing] = []
        now = await self.clock.now()
        for ticket_id in dict.fromkeys(cmd.ticket_ids):  # a ticket named twice: applied once
            if refusal is not None:
                out.append(self._reject(account, cmd, ticket_id, refusal))
                continue
            mark = self.store.mark(account.account_id, "assign", cmd.command_id, ticket_id)
            change = await self.store.assign(
                account, ticket_id, mark=mark, mode="set_agent", actor=cmd.actor_id,
                method="manual", team_id=None, agent_id=cmd.agent_id, rule_id=None,
                event_id=event_id("ticket.assigned", cmd.command_id, ticket_id), at=cmd.at,
                now=now)
            if change == MISSING:
                out.append(self._reject(account, cmd, ticket_id, "ticket not found in account"))
            else:
                out += self._changed(account, change)
        return out

    async def on_transfer(self, account: AccountDocument, cmd: TransferCommand) -> list[Outgoing]:
        refusal = refuse_assignment(account, cmd.actor_id)
        team = next((t for t in account.teams if t.id == cmd.team_id), None)
        if refusal is None and team is None:
            refusal = f"team {cmd.team_id!r} is not a team of account {account.account_id!r}"
        if refusal is not None:
            return [self._reject(account, cmd, cmd.ticket_id, refusal)]
        now = await self.clock.now()
        auto = (team.auto_assign_on_transfer and account.round_robin  # type: ignore[union-attr]
                and is_open(account.business_hours, now))
        mark = self.store.mark(account.account_id, "transfer", cmd.command_id)
        change = await self.store.assign(
            account, cmd.ticket_id, mark=mark, mode="transfer", actor=cmd.actor_id,
            method="transfer", team_id=cmd.team_id, agent_id=None, rule_id=None,
            event_id=event_id("ticket.assigned", cmd.command_id), at=cmd.at, now=now,
            pool=pool_key(cmd.team_id) if auto else None,
            pool_agents=rotation_pool(account, cmd.team_id) if auto else None)
        if change == MISSING:
            return [self._reject(account, cmd, cmd.ticket_id, "ticket not found in account")]
        return self._changed(account, change)

    async def on_reply(self, account: AccountDocument, cmd: ReplyCommand) -> list[Outgoing]:
        refusal = refuse_reply(account, cmd.actor_id, cmd.author_kind)
        if refusal is not None:
            return [self._reject(account, cmd, cmd.ticket_id, refusal)]
        message_id = f"<{event_id('reply', account.account_id, cmd.command_id)}@ticketflow>"
        outcome = await self.store.reply(
            account.account_id, cmd.ticket_id,
            mark=self.store.mark(account.account_id, "reply", cmd.command_id),
            may_claim=reply_claims(account, cmd.actor_id, cmd.author_kind), actor=cmd.actor_id,
            event_id=event_id("ticket.assigned", cmd.command_id), at=cmd.at,
            email_message_id=message_id)
        if outcome is None:
            return [self._reject(account, cmd, cmd.ticket_id, "ticket not found in account")]
        out = [Outgoing("tickets.events", cmd.ticket_id, TicketMessage(
            event_id=event_id("ticket.message", cmd.command_id), account_id=account.account_id,
            ticket_id=cmd.ticket_id, message_id=message_id, direction="outbound",
            author_kind=cmd.author_kind, author_id=cmd.actor_id, text=cmd.text, at=cmd.at))]
        if outcome.entry:
            out += self._changed(account, msgspec.json.decode(outcome.entry, type=TicketAssigned))
        if outcome.countdown_version is not None:
            out.append(Outgoing("timers", cmd.ticket_id, CountdownStart(
                event_id=event_id("countdown.start", cmd.command_id),
                account_id=account.account_id, ticket_id=cmd.ticket_id,
                version=outcome.countdown_version, started_at=cmd.at)))
        return out

    async def on_set_status(self, account: AccountDocument,
                            cmd: SetStatusCommand) -> list[Outgoing]:
        if account.agent(cmd.actor_id) is None:
            return [self._reject(account, cmd, cmd.ticket_id, f"actor {cmd.actor_id!r} is not "
                                 f"an agent of account {account.account_id!r}")]
        previous = await self.tickets.set_status(
            account.account_id, cmd.ticket_id, cmd.status, at=await self.clock.now(),
            mark=self.store.mark(account.account_id, "set_status", cmd.command_id))
        if previous is None:
            return [self._reject(account, cmd, cmd.ticket_id, "ticket not found in account")]
        if previous == cmd.status:
            return []
        return [Outgoing("tickets.events", cmd.ticket_id, TicketStatus(
            event_id=event_id("ticket.status", cmd.command_id), account_id=account.account_id,
            ticket_id=cmd.ticket_id, status=cmd.status, previous_status=previous,  # type: ignore[arg-type]
            reason="agent", at=cmd.at))]

    async def on_set_tags(self, account: AccountDocument, cmd: SetTagsCommand) -> list[Outgoing]:
        if account.agent(cmd.actor_id) is None:
            return [self._reject(account, cmd, cmd.ticket_id, f"actor {cmd.actor_id!r} is not "
                                 f"an agent of account {account.account_id!r}")]
        ticket = await self.tickets.get(account.account_id, cmd.ticket_id)
        if not ticket:
            return [self._reject(account, cmd, cmd.ticket_id, "ticket not found in account")]
        await self.store.set_tags(account.account_id, cmd.ticket_id, cmd.tags)
        facts = TicketFacts(channel=ticket.channel, tags=tuple(cmd.tags),
                            segments=tuple(_strings.decode(ticket.segments)),
                            subject=ticket.subject or "", body=ticket.body)
        decision = route(account, "tags_changed", facts)
        mark = self.store.mark(account.account_id, "set_tags", cmd.command_id)
        # Already in the rule's team: nothing to change, unless this is a redelivery of the
        # command that moved it there (its mark is set), which must publish that move again.
        if decision is None or (decision.team_id == ticket.team_id
                                and decision.agent_id is None
                                and not await self.store.applied(mark)):
            return []
        now = await self.clock.now()
        rotate = (decision.agent_id is None and account.round_robin
                  and is_open(account.business_hours, now))
        change = await self.store.assign(
            account, cmd.ticket_id, mark=mark, mode="route", actor=cmd.actor_id,
            method="rule", team_id=decision.team_id, agent_id=decision.agent_id,
            rule_id=decision.rule_id, event_id=event_id("ticket.assigned", cmd.command_id),
            at=cmd.at, now=now, pool=pool_key(decision.team_id) if rotate else None,
            pool_agents=rotation_pool(account, decision.team_id) if rotate else None)
        return [] if change == MISSING else self._changed(account, change)

    # --- agents.presence ------------------------------------------------------------------

    async def on_presence(self, account: AccountDocument, p: Presence) -> list[Outgoing]:
        cause = event_id("presence", p.account_id, p.agent_id, p.actor_id, p.status,
                         p.at.isoformat())
        reason = None
        if p.actor_id != p.agent_id:
            reason = f"actor {p.actor_id!r} may not set the presence of {p.agent_id!r}"
        elif account.agent(p.agent_id) is None:
            reason = f"agent {p.agent_id!r} is not an agent of account {account.account_id!r}"
        if reason is not None:
            log.info("presence refused: %s", reason)
            return [_rejected(account.account_id, cause, None, reason, p.at, p.agent_id)]
        applied = await self.store.set_presence(account.account_id, p.agent_id, p.status, p.at)
        log.info("presence %s %s %s%s", account.account_id, p.agent_id, p.status,
                 "" if applied else " ignored: the agent went offline at or after its time")
        now = await self.clock.now()
        # Every sign of life may bring an agent (back) online: an `online`, or a heartbeat
        # after Redis lost the agent or after a presence timeout. Each such record drains
        # once (its drain mark), stale or not, so a redelivery re-publishes the same events.
        if p.status not in ("online", "heartbeat") or not account.round_robin or not is_open(
                account.business_hours, now):
            return []
        agent = account.agent(p.agent_id)
        pools = [pool_key(team) for team in agent.teams] + [pool_key(None)]  # type: ignore[union-attr]
        changes = await drain_pools(self.store, account, pools, trigger=cause, at=now, now=now)
        out: list[Outgoing] = []
        for change in changes:
            out += self._changed(account, change)
        return out

    # --- helpers --------------------------------------------------------------------------

    def _changed(self, account: AccountDocument, change: TicketAssigned | str | None,
                 new_ticket: bool = False) -> list[Outgoing]:
        if not isinstance(change, TicketAssigned):
            return []
        if change.agent_id and change.agent_id != change.previous_agent_id:
            ASSIGNMENTS.labels(account.account_id, change.agent_id, change.method).inc()
        return [Outgoing("tickets.events", change.ticket_id, change),
                *self._notices(notifications_for_change(account, change, new_ticket))]

    @staticmethod
    def _notices(notifications: list[Any]) -> list[Outgoing]:
        return [Outgoing("notifications", n.agent_id, n) for n in notifications]

    @staticmethod
    def _reject(account: AccountDocument, cmd: Any, ticket_id: str | None,
                reason: str) -> Outgoing:
        log.info("command %s refused: %s", cmd.command_id, reason)
        key = ticket_id or account.account_id
        return _rejected(account.account_id, cmd.command_id, ticket_id, reason, cmd.at, key)


async def run(settings: Settings) -> None:
    """Run one router replica until SIGTERM."""
    client: Any = connect(settings)
    registry = AccountRegistry(settings)
    clock = make_clock(settings.clock, client, settings.redis_prefix)
    store = RouterStore(settings, client)
    handler = RouterHandler(store, TicketStore(settings, client), registry, clock)

    listener: Any = connect_pubsub(settings)
    wakeups = Wakeups(listener, [clock.key] if isinstance(clock, ControlledClock) else [])

    async def openings(loop: ConsumerLoop) -> None:
        await sweep_openings(store, registry, clock, wakeups, loop.publish, handler._changed)

    loop = ConsumerLoop(settings, handler, registry, background=[openings])
    # The router is the one kind that publishes refused account documents (accounts.py).
    registry.dead_letter_refusals(loop.publish, handler.worker)
    loop.install_signal_handlers()
    try:
        await loop.run()
    finally:
        await client.aclose()
        await listener.aclose()
