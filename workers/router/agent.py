"""The router worker: new tickets, commands and presence become responsibility changes,
replies, status changes and notifications (R1-R10, N1, A1, A3)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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
from schemas.events import TicketAssigned, TicketCreated, TicketMessage, TicketStatus
from workers.router.commands import (
    AssignStep,
    Refusal,
    decide_assign,
    decide_presence,
    decide_reply,
    decide_set_status,
    decide_transfer,
    refuse_set_tags,
    route_on_tags,
)
from workers.router.decide import plan_new_ticket
from workers.router.offline import OfflineStore, sweep_offline
from workers.router.opening import drain_freed, drain_pools, sweep_openings, watch_documents
from workers.router.outputs import (
    assignment_events,
    command_rejections,
    count_assignments,
    customer_replied,
    presence_rejection,
    reopened,
    reply_events,
    status_events,
)
from workers.router.queue_metrics import watch_queue_lengths
from workers.router.rules import TicketFacts
from workers.router.store import MISSING, ReadStep, RouterStore, Step
from workers.runtime.clock import Clock, ControlledClock
from workers.runtime.consumer import Background
from workers.runtime.ids import event_id
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.replica import Kind, Resources, Wiring
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.business_hours import is_open
from workers.state.tickets import TicketStore

log = logging.getLogger(__name__)
_strings = msgspec.json.Decoder(list[str])
_entry = msgspec.json.Decoder(TicketAssigned)
NOT_FOUND = "ticket not found in account"


def _is_customer_message(value: Any) -> bool:
    return (isinstance(value, TicketMessage) and value.direction == "inbound"
            and value.author_kind == "customer")


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
        self.presence_changed: Callable[[], None] = lambda: None

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        """Records in order; runs of new tickets and customer messages share one Redis round
        trip (a pipeline keeps their order), anything else is applied one by one."""
        out: list[Outgoing] = []
        run: list[tuple[AccountDocument, Any]] = []
        for item in batch:  # of known accounts, with their documents (the loop's check)
            value, account = item.value, item.account
            assert account is not None
            if isinstance(value, TicketCreated) or _is_customer_message(value):
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
                count_assignments(account.account_id, [result])
                out += assignment_events(account, result, new_ticket=True)  # type: ignore[arg-type]
            elif isinstance(result, tuple):
                out += customer_replied(account, ev, *result)
        return out

    async def _dispatch(self, account: AccountDocument, value: Any) -> list[Outgoing]:
        if isinstance(value, TicketStatus):
            if value.reason == "reopened":
                return await self.on_reopened(account, value)
            if value.reason == "inactivity":  # the closer's: its agent's place freed (R12)
                return await self._freed(account, f"event:{value.event_id}")
            return []
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
        agent, team = (ticket.agent_id, ticket.team_id) if ticket else (None, None)
        return reopened(account, ev, agent, team)

    # --- tickets.commands -----------------------------------------------------------------

    async def on_assign(self, account: AccountDocument, cmd: AssignCommand) -> list[Outgoing]:
        plan = decide_assign(account, cmd, await self.clock.now())
        if isinstance(plan, Refusal):
            return self._reject(account, cmd, dict.fromkeys(cmd.ticket_ids), plan.reason)
        out: list[Outgoing] = []
        for step in plan:
            change = await self._assign(account, step)
            out += (self._reject(account, cmd, [step.ticket_id], NOT_FOUND) if change == MISSING
                    else assignment_events(account, change))
        return out + await self._freed(account, f"command:{cmd.command_id}")

    async def on_transfer(self, account: AccountDocument, cmd: TransferCommand) -> list[Outgoing]:
        plan = decide_transfer(account, cmd, await self.clock.now())
        if isinstance(plan, Refusal):
            return self._reject(account, cmd, [cmd.ticket_id], plan.reason)
        change = await self._assign(account, plan)
        if change == MISSING:
            return self._reject(account, cmd, [cmd.ticket_id], NOT_FOUND)
        return (assignment_events(account, change)
                + await self._freed(account, f"command:{cmd.command_id}"))

    async def on_reply(self, account: AccountDocument, cmd: ReplyCommand) -> list[Outgoing]:
        plan = decide_reply(account, cmd)
        if isinstance(plan, Refusal):
            return self._reject(account, cmd, [cmd.ticket_id], plan.reason)
        outcome = await self.store.reply(
            account.account_id, plan.ticket_id,
            mark=self.store.mark(account.account_id, "reply", *plan.mark_parts),
            may_claim=plan.may_claim, actor=plan.actor, event_id=plan.event_id, at=plan.at,
            email_message_id=plan.email_message_id, author_kind=cmd.author_kind)
        if outcome is None:
            return self._reject(account, cmd, [cmd.ticket_id], NOT_FOUND)
        claim = _entry.decode(outcome.entry) if outcome.entry else None
        count_assignments(account.account_id, [claim])
        return reply_events(account, cmd, plan, claim, outcome.countdown_version)

    async def on_set_status(self, account: AccountDocument,
                            cmd: SetStatusCommand) -> list[Outgoing]:
        plan = decide_set_status(account, cmd)
        if isinstance(plan, Refusal):
            return self._reject(account, cmd, [cmd.ticket_id], plan.reason)
        previous = await self.tickets.set_status(
            account.account_id, plan.ticket_id, plan.status, at=await self.clock.now(),
            mark=self.store.mark(account.account_id, "set_status", *plan.mark_parts))
        if previous is None:
            return self._reject(account, cmd, [cmd.ticket_id], NOT_FOUND)
        out = status_events(account, cmd, previous)
        if plan.status != "open":  # closed or snoozed: no longer counted (R11, R12)
            out += await self._freed(account, f"command:{cmd.command_id}")
        return out

    async def on_set_tags(self, account: AccountDocument, cmd: SetTagsCommand) -> list[Outgoing]:
        refusal = refuse_set_tags(account, cmd)
        if refusal is not None:
            return self._reject(account, cmd, [cmd.ticket_id], refusal.reason)
        ticket = await self.tickets.get(account.account_id, cmd.ticket_id)
        if not ticket:
            return self._reject(account, cmd, [cmd.ticket_id], NOT_FOUND)
        await self.store.set_tags(account.account_id, cmd.ticket_id, cmd.tags)
        facts = TicketFacts(channel=ticket.channel, tags=tuple(cmd.tags),
                            segments=tuple(_strings.decode(ticket.segments)),
                            subject=ticket.subject or "", body=ticket.body)
        plan = route_on_tags(account, cmd, facts, ticket.team_id, await self.clock.now())
        if plan is None or (plan.replay_only and not await self.store.applied(self.store.mark(
                account.account_id, plan.step.mark_kind, *plan.step.mark_parts))):
            return []
        change = await self._assign(account, plan.step)
        if change == MISSING:
            return []
        return (assignment_events(account, change)
                + await self._freed(account, f"command:{cmd.command_id}"))

    # --- agents.presence ------------------------------------------------------------------

    async def on_presence(self, account: AccountDocument, p: Presence) -> list[Outgoing]:
        now = await self.clock.now()
        plan = decide_presence(account, p, now)
        if isinstance(plan, Refusal):
            log.info("presence refused: %s", plan.reason)
            return [presence_rejection(account, p, plan.reason)]
        applied = await self.store.set_presence(
            account.account_id, p.agent_id, p.status, p.at,
            reassign_after=account.reassign_offline_after_seconds,
            presence_timeout=account.presence_timeout_seconds)
        if applied and account.reassign_offline_after_seconds is not None:
            self.presence_changed()  # the offline sweep looks at the new due time
        log.info("presence %s %s %s%s", account.account_id, p.agent_id, p.status,
                 "" if applied else " ignored: the agent went offline at or after its time")
        # Each sign of life drains once (its drain mark), stale or not, so a redelivery
        # re-publishes the same events.
        changes = await drain_pools(self.store, account, plan.drain_pools, trigger=plan.cause,
                                    reason="agent_online", at=now,
                                    now=now) if plan.drain_pools else []
        return [out for change in changes for out in assignment_events(account, change)]

    # --- helpers --------------------------------------------------------------------------

    async def _freed(self, account: AccountDocument, trigger: str) -> list[Outgoing]:
        """After a step that may have freed a place: drain the queue under the trigger's
        mark (R12). The trigger is the record being handled, whose offset commits only after
        this returns: a crash replays it, and the drain runs (or its mark re-publishes)."""
        now = await self.clock.now()
        changes = await drain_freed(self.store, account, trigger=trigger, at=now, now=now)
        return [out for change in changes for out in assignment_events(account, change)]

    async def _assign(self, account: AccountDocument,
                      step: AssignStep) -> TicketAssigned | str | None:
        change = await self.store.assign(account, step)
        count_assignments(account.account_id, [change])
        return change

    @staticmethod
    def _reject(account: AccountDocument, cmd: Any, ticket_ids: Iterable[str | None],
                reason: str) -> list[Outgoing]:
        log.info("command %s refused: %s", cmd.command_id, reason)
        return command_rejections(account, cmd, ticket_ids, reason)


def build(resources: Resources) -> Wiring:
    """The handler, the opening sweep (A1), the document watch (a capacity raised, R12) and
    the offline reassignment sweep (R15), which publish through the loop."""
    settings, client, clock = resources.settings, resources.redis, resources.clock
    store = RouterStore(settings, client)
    handler = RouterHandler(store, TicketStore(settings, client), resources.registry, clock)
    wakeups = Wakeups(resources.pubsub,
                      [clock.key] if isinstance(clock, ControlledClock) else [])

    async def openings() -> None:
        await sweep_openings(store, resources.registry, clock, wakeups, resources.publish)

    async def documents() -> None:
        await watch_documents(store, resources.registry, clock, resources.publish)

    offline_wakeups = Wakeups(resources.pubsub,
                              [clock.key] if isinstance(clock, ControlledClock) else [])
    handler.presence_changed = offline_wakeups.poke
    offline = OfflineStore(settings, client)

    async def reassignments() -> None:
        await sweep_offline(offline, resources.registry, clock, offline_wakeups,
                            resources.publish)

    return Wiring(handler, background=[Background("openings", openings),
                                       Background("documents", documents),
                                       Background("offline", reassignments),
                                       Background("queue_length", lambda: watch_queue_lengths(
                                           store.queue_size, resources.registry))])


KIND = Kind(name=RouterHandler.worker, topics=RouterHandler.topics, build=build,
            # The router is the one kind that publishes refused account documents.
            dead_letter_refusals=True)
