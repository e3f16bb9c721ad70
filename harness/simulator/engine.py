"""One policy run: the scenario's day through the workers' own handlers, in process, on a
real redis-server, under one account document (SPEC X7).

No broker: records go from one handler to the next as the consume loops would hand them
over (`Decoded` in, `Outgoing` out), with no delay between hops. Ingest threads the
customers' messages (`IngestHandler`), the router routes, drains and applies the simulated
agents' commands and presence (`RouterHandler`, its opening drains and its offline sweep
through `drain_pools` and `OfflineStore`), the closer records countdowns and closes quiet
tickets (`TimersHandler`, `FireLoop.fire_due`). Every decision and Lua script is theirs.

Time is a discrete-event loop (heapq) over simulated seconds from the start of the day;
the workers read it from `SimulatedClock`, set to each event's instant. The simulated
agents react to the `tickets.events` the workers publish, as the agent app would: a ticket
assigned to them or a customer message on one of theirs becomes a task; they answer one
task at a time, then close, snooze or leave the ticket as the scenario says.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import msgspec

from harness.simulator.client import connect_simulation
from harness.simulator.scenario import Conversation, Scenario
from harness.simulator.tally import Figures, Series, Tally
from schemas.agent_app import Presence, ReplyCommand, SetStatusCommand
from schemas.codec import encode
from schemas.config import AccountDocument
from schemas.events import (
    CommandRejected,
    TicketAssigned,
    TicketCreated,
    TicketMessage,
    TicketStatus,
)
from schemas.inbound import EmailMessage, SmsMessage, WebchatMessage
from schemas.internal import CountdownStart
from workers.closer.agent import TimersHandler
from workers.closer.countdowns import CountdownStore
from workers.closer.deadline import inactivity_period
from workers.closer.due_index import DueIndex
from workers.closer.firing import FireLoop
from workers.ingest.agent import IngestHandler
from workers.ingest.store import IngestStore
from workers.router.agent import RouterHandler
from workers.router.offline import OfflineStore
from workers.router.opening import all_pools, drain_pools
from workers.router.outputs import assignment_events, count_assignments
from workers.router.store import RouterStore
from workers.router.views import list_tickets
from workers.runtime.records import Decoded, Outgoing, Received
from workers.runtime.settings import Settings
from workers.runtime.wakeups import Wakeups
from workers.state.accounts import AccountRegistry
from workers.state.business_hours import current_opening
from workers.state.keys import Keys
from workers.state.store import connect
from workers.state.tickets import TicketStore

log = logging.getLogger(__name__)

ROUTER_TOPICS = frozenset({"tickets.events", "tickets.commands", "agents.presence"})
INF = math.inf
ARRIVE, CUSTOMER, ONLINE, OFFLINE, DONE, HEARTBEAT = range(6)
SHOP_NUMBER = "+15550000000"
SUPPORT_EMAIL = "help@simulated.example"


class SimulatedClock:
    """The workers' clock (`workers.runtime.clock.Clock`), moved by the event loop. Kept in
    memory: the Redis-backed ControlledClock would cost three round trips per event."""

    def __init__(self, instant: datetime) -> None:
        self._now = instant

    async def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant


@dataclass(slots=True)
class _Held:
    """A ticket as the simulated agents see it from the events."""

    agent: str | None = None
    status: str = "open"
    awaiting: bool = True
    """Its last message is the customer's: it awaits an agent reply."""
    conversation: int | None = None


@dataclass(slots=True)
class _Agent:
    online: bool = False
    spell: int = 0
    busy: str | None = None
    tasks: deque[str] = field(default_factory=deque)


@dataclass
class RunResult:
    """One policy's figures, plot series, wall-clock seconds and the end-state check."""

    figures: Figures
    series: Series
    elapsed_s: float
    events: int
    day_elapsed_s: float
    """Wall-clock seconds until the clock reached the end of the day (the rest: the tail)."""
    mismatches: list[str]


class PolicyRun:
    """The scenario under one account document, in one Redis key prefix."""

    def __init__(self, settings: Settings, account: AccountDocument, scenario: Scenario,
                 heartbeat_s: float | None = None, window_s: float = 0.0,
                 closer_tick_s: float = 0.0, export: IO[bytes] | None = None) -> None:
        self.settings = settings
        self.account = account
        self.scenario = scenario
        self.horizon = scenario.horizon_s
        self.heartbeat = heartbeat_s
        self.window = window_s
        self.closer_tick = closer_tick_s
        self.export = export
        self.t0 = scenario.start.timestamp()
        self.clock = SimulatedClock(scenario.start)
        self.client: Any = (connect(settings) if settings.redis_url.startswith("redis+cluster")
                            else connect_simulation(settings.redis_url))
        self.registry = AccountRegistry(settings)
        refused = self.registry.apply(account.account_id.encode(), encode(account))
        if refused is not None:
            raise ValueError(f"policy {account.account_id}: refused: {refused}")
        self.ingest = IngestHandler(IngestStore(settings, self.client))
        self.router_store = RouterStore(settings, self.client)
        self.router = RouterHandler(self.router_store, TicketStore(settings, self.client),
                                    self.registry, self.clock)
        countdowns = CountdownStore(settings, self.client)
        self.index = DueIndex(settings, self.client)
        self.timers = TimersHandler(countdowns, self.index, self.registry)  # type: ignore[arg-type]
        self._fired: list[Outgoing] = []
        self.fire = FireLoop(countdowns, self.index, self.registry, self.clock,
                             Wakeups(None, []), self._collect)
        self.offline = (OfflineStore(settings, self.client)
                        if account.reassign_offline_after_seconds is not None else None)
        capacities = {a.id: {c: n for c in ("sms", "email", "webchat")
                             if (n := a.capacity.on(c)) is not None}  # type: ignore[arg-type]
                      for a in account.agents}
        agents = [a.id for a in account.agents if a.id in scenario.online]
        self.tally = Tally(agents, capacities, scenario.day_s, start=self.t0)
        self.heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self.tickets: dict[str, _Held] = {}
        self.agents = {a: _Agent() for a in scenario.online}
        self.conversation_ticket: dict[int, str] = {}
        self.replies_sent: dict[int, int] = {}
        self.message_conversation: dict[str, int] = {}
        self.next_fire = INF
        self.timers_waiting: list[Outgoing] = []
        self.next_timers = INF
        self.next_offline = INF
        self.openings = self._openings()
        self.now = 0.0
        self._started = 0.0
        self.day_elapsed: float | None = None
        self.offset = 0
        self.events = 0
        self.dead_letters = 0

    # -- the loop -----------------------------------------------------------------------

    async def run(self, sla_s: float) -> RunResult:
        """Run the day to the horizon; figures with `sla_s` as the SLA threshold."""
        started = self._started = time.perf_counter()
        try:
            self._schedule_day()
            await self._loop()
            self.tally.advance(self.horizon)
            mismatches = await self._check_end_state()
        finally:
            await self.client.aclose()
        elapsed = time.perf_counter() - started
        figures, series = self.tally.figures(self.account.account_id, self.horizon, sla_s)
        return RunResult(figures, series, elapsed, self.events,
                         self.day_elapsed if self.day_elapsed is not None else elapsed,
                         mismatches)

    def _push(self, at: float, kind: int, what: Any) -> None:
        heapq.heappush(self.heap, (at, next(self._seq), kind, what))

    def _schedule_day(self) -> None:
        for conversation in self.scenario.conversations:
            self._push(conversation.at, ARRIVE, conversation)
            for k, at in enumerate(conversation.followups, 1):
                self._push(at, CUSTOMER, (conversation, k))
        for agent, spells in self.scenario.online.items():
            for begin, end in spells:
                if begin <= self.horizon:
                    self._push(begin, ONLINE, agent)
                    self._push(min(end, self.horizon), OFFLINE, agent)

    async def _loop(self) -> None:
        while True:
            t_heap = self.heap[0][0] if self.heap else INF
            t_open = self.openings[0] if self.openings else INF
            t_closer = min(self.next_fire, self.next_timers)
            t_timer = min(t_closer, self.next_offline, t_open)
            t = min(t_heap, t_timer)
            if t > self.horizon:
                return
            if t_timer <= t_heap:
                self._move_to(t)
                if t == t_open:
                    self.openings.pop(0)
                    await self._hours_opened(t)
                elif t == self.next_offline:
                    await self._offline_sweep(t)
                else:
                    await self._closer(t)
                continue
            # The records of the events up to the end of the batch window go to the workers
            # together at its end, as a consume loop takes what arrived while it waited;
            # each event itself happens (and is dated) at its own instant.
            flush = t if not self.window else min(
                math.ceil(t / self.window) * self.window, t_timer, self.horizon)
            records: list[Outgoing] = []
            while self.heap and self.heap[0][0] <= flush:
                at, _, kind, what = heapq.heappop(self.heap)
                self.tally.advance(at)
                self.now = at
                records += self._happen(kind, what)
            self._move_to(flush)
            await self._settle(records)

    def _move_to(self, t: float) -> None:
        if self.day_elapsed is None and t >= self.scenario.day_s:
            self.day_elapsed = time.perf_counter() - self._started
        self.tally.advance(t)
        self.now = t
        self.clock.set(datetime.fromtimestamp(self.t0 + t, UTC))

    def _happen(self, kind: int, what: Any) -> list[Outgoing]:
        """The records one scheduled event sends (customer messages, presence, commands)."""
        if kind == ARRIVE:
            return [self._customer_message(what, 0)]
        if kind == CUSTOMER:
            conversation, k = what
            return [self._customer_message(conversation, k)]
        if kind == ONLINE:
            return self._online(what)
        if kind == OFFLINE:
            return self._offline(what)
        if kind == DONE:
            return self._done(what)
        if kind == HEARTBEAT:
            agent, spell = what
            state = self.agents[agent]
            if not state.online or state.spell != spell:
                return []
            assert self.heartbeat is not None
            self._push(self.now + self.heartbeat, HEARTBEAT, (agent, spell))
            return [self._presence(agent, "heartbeat")]
        raise ValueError(kind)

    # -- the workers --------------------------------------------------------------------

    async def _collect(self, records: list[Outgoing]) -> None:
        """The fire loop's and the sweeps' `publish`."""
        self._fired += records

    def _decoded(self, records: list[Outgoing], account: AccountDocument | None,
                 ) -> list[Decoded]:
        out = []
        for r in records:
            self.offset += 1
            out.append(Decoded(Received(r.topic, 0, self.offset, r.key.encode(), None),
                               r.value, account))
        return out

    async def _settle(self, records: list[Outgoing]) -> None:
        """Hand records to the kinds that consume them, and their outputs on, until
        nothing is left to deliver at this instant."""
        while records:
            inbound, routed, timers = [], [], []
            for record in records:
                topic = record.topic
                if topic == "tickets.events":
                    self._observe(record.value)
                if topic in ROUTER_TOPICS and _router_reads(record.value):
                    routed.append(record)
                elif topic == "timers":
                    timers.append(record)
                elif topic.startswith("inbound."):
                    inbound.append(record)
                elif topic == "deadletter":
                    self.dead_letters += 1
                    log.warning("dead letter in simulation: %s", record.value)
            self.events += len(records)
            records = []
            if inbound:
                records += await self.ingest.handle(self._decoded(inbound, self.account))
            if routed:
                records += await self.router.handle(self._decoded(routed, self.account))
            if timers and self.closer_tick:  # the closer takes them at its next tick
                if not self.timers_waiting:
                    self.next_timers = self._on_tick(self.now)
                self.timers_waiting += timers
            elif timers:
                await self._timers(timers)
            if self.offline is not None and any(r.topic == "agents.presence"
                                                for r in routed):
                self.next_offline = await self._next_offline()

    async def _timers(self, timers: list[Outgoing]) -> None:
        await self.timers.handle(self._decoded(timers, None))
        self._lower_fire(timers)

    def _lower_fire(self, timers: list[Outgoing]) -> None:
        auto_close = self.account.auto_close
        if not auto_close.enabled:
            return
        period = inactivity_period(auto_close)
        for record in timers:
            if isinstance(record.value, CountdownStart):
                due = (record.value.started_at + period).timestamp() - self.t0
                self.next_fire = min(self.next_fire, self._on_tick(due))

    def _on_tick(self, due: float) -> float:
        """The closer's first look at or after `due` (its tick grid, or `due` itself)."""
        tick = self.closer_tick
        return math.ceil(due / tick) * tick if tick else due

    async def _closer(self, t: float) -> None:
        """The closer at `t`: it takes the `timers` records sent since its last tick, then
        fires what is due (C1, C4)."""
        if self.timers_waiting:
            timers, self.timers_waiting, self.next_timers = self.timers_waiting, [], INF
            await self._timers(timers)
        if self.next_fire <= t:
            await self._fire(t)

    async def _fire(self, t: float) -> None:
        """The closer's fire pass at `t` (C1, C4)."""
        while await self.fire.fire_due(self.clock._now):
            pass
        records, self._fired = self._fired, []
        await self._settle(records)
        due = await self.index.next_due()
        self.next_fire = INF if due is None else max(self._on_tick(due - self.t0),
                                                     t + (self.closer_tick or 0.001))

    async def _next_offline(self) -> float:
        assert self.offline is not None
        due = await self.offline.next_due(self.account.account_id)
        return INF if due is None else max(due - self.t0, self.now)

    async def _offline_sweep(self, t: float) -> None:
        """The router's offline reassignment sweep at `t` (R15), through its store."""
        assert self.offline is not None
        now = self.clock._now
        account = self.account
        records: list[Outgoing] = []
        for agent_id in await self.offline.due(account.account_id, now):
            entries = await self.offline.claim(account, agent_id, now)
            if entries is None:
                continue
            count_assignments(account.account_id, entries)
            records += [o for e in entries for o in assignment_events(account, e)]
            await self.offline.published(account, agent_id, now)
        await self._settle(records)
        due = await self.offline.next_due(account.account_id)
        self.next_offline = INF if due is None else max(due - self.t0, t + 0.001)

    def _openings(self) -> list[float]:
        """When the account's business hours begin within the run (R4), each once."""
        hours = self.account.business_hours
        if hours is None or not self.account.round_robin:
            return []
        found: list[float] = []
        for minute in range(int(self.horizon // 60) + 1):
            opened = current_opening(hours, datetime.fromtimestamp(self.t0 + minute * 60, UTC))
            if opened is not None:
                at = opened.timestamp() - self.t0
                if at > 0 and (not found or found[-1] != at):
                    found.append(at)
        return found

    async def _hours_opened(self, t: float) -> None:
        """The router's opening sweep: hours began, waiting tickets are assigned (R4)."""
        opened = self.clock._now
        changes = await drain_pools(self.router_store, self.account, all_pools(self.account),
                                    trigger=f"open:{opened.isoformat()}",
                                    reason="hours_opened", at=opened, now=opened)
        await self._settle([o for c in changes for o in assignment_events(self.account, c)])

    # -- the simulated people -----------------------------------------------------------

    def _at(self) -> datetime:
        """The instant of the event being handled (within a batch window, its own)."""
        return datetime.fromtimestamp(self.t0 + self.now, UTC)

    def _customer_message(self, conversation: Conversation, k: int) -> Outgoing:
        """The customer's message number `k` (0 opens the ticket) of a conversation."""
        n, account, at = conversation.index, self.account.account_id, self._at()
        message_id = f"sim-{n}-{k}"
        self.message_conversation[message_id] = n
        tags, segments = list(conversation.tags), list(conversation.segments)
        text = conversation.body if k == 0 else f"Reply {k} from the customer"
        if conversation.channel == "sms":
            phone = conversation.customer or f"+1555{n:09d}"
            return Outgoing("inbound.sms", phone, SmsMessage(
                account_id=account, message_id=message_id, from_number=phone,
                to_number=SHOP_NUMBER, body=text, received_at=at, tags=tags,
                segments=segments))
        if conversation.channel == "email":
            email = conversation.customer or f"customer{n}@customers.example"
            opening = f"<sim-{n}-0@customers.example>"
            return Outgoing("inbound.email", email, EmailMessage(
                account_id=account, message_id=f"<{message_id}@customers.example>",
                from_email=email, to_email=SUPPORT_EMAIL, received_at=at, text=text,
                subject=conversation.subject if k == 0 else f"Re: {conversation.subject}",
                in_reply_to=None if k == 0 else opening,
                references=[] if k == 0 else [opening], tags=tags, segments=segments))
        session = f"s-{n}"
        return Outgoing("inbound.webchat", session, WebchatMessage(
            account_id=account, message_id=message_id, session_id=session, text=text,
            sent_at=at, tags=tags, segments=segments))

    def _presence(self, agent: str, status: str) -> Outgoing:
        return Outgoing("agents.presence", agent, Presence(
            account_id=self.account.account_id, agent_id=agent, actor_id=agent,
            status=status, at=self._at()))  # type: ignore[arg-type]

    def _online(self, agent: str) -> list[Outgoing]:
        state = self.agents[agent]
        state.online = True
        state.spell += 1
        self.tally.presence(agent, True)
        if self.heartbeat is not None:
            self._push(self.now + self.heartbeat, HEARTBEAT, (agent, state.spell))
        self._work(agent)
        return [self._presence(agent, "online")]

    def _offline(self, agent: str) -> list[Outgoing]:
        state = self.agents[agent]
        if not state.online:
            return []
        state.online = False
        self.tally.presence(agent, False)
        return [self._presence(agent, "offline")]

    def _observe(self, event: msgspec.Struct) -> None:
        """A published event: count it, export it, and let the agents react."""
        self.tally.observe(self.now, event)
        if self.export is not None:
            self.export.write(encode(event) + b"\n")
        if isinstance(event, TicketCreated):
            self.tickets.setdefault(event.ticket_id, _Held())
        elif isinstance(event, TicketMessage):
            held = self.tickets.get(event.ticket_id)
            if held is None:
                return
            if event.direction == "inbound" and event.author_kind == "customer":
                n = self.message_conversation.pop(_plain_id(event.message_id), None)
                if n is not None:
                    held.conversation = n
                    self.conversation_ticket[n] = event.ticket_id
                held.awaiting = True
                if held.agent is not None and held.status == "open":
                    self._task(held.agent, event.ticket_id)
            elif event.direction == "outbound":
                held.awaiting = False
        elif isinstance(event, TicketAssigned):
            held = self.tickets.get(event.ticket_id)
            if held is None:
                return
            held.agent = event.agent_id
            if event.agent_id is not None and held.awaiting and held.status == "open":
                self._task(event.agent_id, event.ticket_id)
        elif isinstance(event, TicketStatus):
            held = self.tickets.get(event.ticket_id)
            if held is not None:
                held.status = event.status

    def _task(self, agent: str, ticket_id: str) -> None:
        state = self.agents.get(agent)
        if state is None:  # an agent with no shift never answers
            return
        state.tasks.append(ticket_id)
        self._work(agent)

    def _still_theirs(self, agent: str, ticket_id: str) -> bool:
        held = self.tickets.get(ticket_id)
        return (held is not None and held.agent == agent and held.status == "open"
                and held.awaiting and held.conversation is not None)

    def _work(self, agent: str) -> None:
        """An idle online agent starts on their oldest task that is still theirs."""
        state = self.agents[agent]
        while state.online and state.busy is None and state.tasks:
            ticket_id = state.tasks.popleft()
            if not self._still_theirs(agent, ticket_id):
                continue
            n = self.tickets[ticket_id].conversation
            assert n is not None
            conversation = self.scenario.conversations[n]
            handle = conversation.exchange(self.replies_sent.get(n, 0)).handle_s
            state.busy = ticket_id
            self._push(round(self.now + handle, 3), DONE, agent)

    def _done(self, agent: str) -> list[Outgoing]:
        """The agent finished a reply: send it, then what the conversation calls for."""
        state = self.agents[agent]
        ticket_id, state.busy = state.busy, None
        out: list[Outgoing] = []
        if ticket_id is not None and self._still_theirs(agent, ticket_id):
            out = self._reply(agent, ticket_id)
        self._work(agent)
        return out

    def _reply(self, agent: str, ticket_id: str) -> list[Outgoing]:
        held = self.tickets[ticket_id]
        n = held.conversation
        assert n is not None
        conversation = self.scenario.conversations[n]
        k = self.replies_sent.get(n, 0)
        self.replies_sent[n] = k + 1
        exchange = conversation.exchange(k)
        account, at = self.account.account_id, self._at()
        held.awaiting = False  # no second task for it before the reply's event comes back
        out = [Outgoing("tickets.commands", ticket_id, ReplyCommand(
            command_id=f"reply-{ticket_id}-{k}", account_id=account, actor_id=agent, at=at,
            ticket_id=ticket_id, author_kind="agent", text="Thanks, we are on it."))]
        if exchange.customer_delay_s is not None and not conversation.followups:
            self._push(round(self.now + exchange.customer_delay_s, 3), CUSTOMER,
                       (conversation, k + 1))
        if exchange.end in ("close", "snooze"):
            status = "closed" if exchange.end == "close" else "snoozed"
            out.append(Outgoing("tickets.commands", ticket_id, SetStatusCommand(
                command_id=f"{status}-{ticket_id}-{k}", account_id=account, actor_id=agent,
                at=at, ticket_id=ticket_id, status=status,  # type: ignore[arg-type]
                snooze_until=at + timedelta(days=1) if status == "snoozed" else None)))
        return out

    # -- the end ------------------------------------------------------------------------

    async def _check_end_state(self) -> list[str]:
        """Hold the tally's end counts against what Redis holds (the status views, and the
        router's view of open tickets): the figures describe what the workers did, or the
        run says where they differ."""
        account_id = self.account.account_id
        expected = self.tally.state()
        keys = Keys.of(self.settings)
        found = {status: int(await self.client.zcard(keys.status_view(account_id, status)))
                 for status in ("open", "snoozed", "closed")}
        rows = await list_tickets(self.client, self.settings, account_id, "all",
                                  statuses=("open",))
        found["unassigned"] = sum(1 for r in rows if r.agent_id is None)
        for row in rows:
            if row.agent_id is not None:
                found[f"open:{row.agent_id}"] = found.get(f"open:{row.agent_id}", 0) + 1
        names = sorted(set(expected) | set(found))
        out = [f"{name}: counted {expected.get(name, 0)}, Redis holds {found.get(name, 0)}"
               for name in names if expected.get(name, 0) != found.get(name, 0)]
        if self.dead_letters:
            out.append(f"{self.dead_letters} dead letters")
        return out


def _router_reads(value: msgspec.Struct) -> bool:
    """Whether the router does anything with a record: on `tickets.events` only new
    tickets, customer messages and reopened or auto-closed tickets; the rest (its own
    assignments, refusals and replies, status changes it made) it skips, so they are not
    handed back to it (which would only split its batches)."""
    if isinstance(value, TicketCreated):
        return True
    if isinstance(value, TicketMessage):
        return value.direction == "inbound" and value.author_kind == "customer"
    if isinstance(value, TicketStatus):
        return value.reason in ("reopened", "inactivity")
    return not isinstance(value, (TicketAssigned, CommandRejected))


def _plain_id(message_id: str) -> str:
    """`<sim-3-1@customers.example>` -> `sim-3-1` (emails carry angle brackets)."""
    if message_id.startswith("<"):
        return message_id[1:].split("@", 1)[0]
    return message_id

