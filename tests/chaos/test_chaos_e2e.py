"""X1 under fire: three replicas of every worker kind on one broker and an AOF Redis, while
replicas are SIGKILLed and restarted at random moments and Redis itself is killed and
restarted once. Then everything is checked against the inputs."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from schemas.agent_app import Presence, ReplyCommand
from schemas.codec import encode
from schemas.config import AccountDocument, AgentConfig, AutoClose, HandoffSettings
from schemas.events import DeadLetter, TicketAssigned, TicketMessage, TicketStatus
from schemas.handoff import HandoffRequest, HandoffVisitor, TranscriptLine
from schemas.internal import CountdownStart
from tests.conftest import ClockControl
from tests.handoff.conftest import SECRETS, ZENDESK_SECRET, ZENDESK_TOKEN_ENV
from tests.handoff.fakes import FakeHelpdesk
from tests.messages import chat, email, sms
from tests.pipeline import Pipeline
from workers.config_publish import publish_accounts
from workers.consumer import SHUTDOWN_GRACE_S
from workers.embedded import RedisServer
from workers.processes import WORKER_KINDS, WorkerProcess
from workers.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CONVERSATIONS = 450        # each: a new ticket with two customer messages
HANDOFFS = 20
REPLICAS = 3
AUTOMATIC = {"round_robin", "rule", "solo", "backlog"}


class Chaos:
    """SIGKILLs a random replica every 1.5-3 s and restarts it; kills Redis once."""

    def __init__(self, workers: list[WorkerProcess], redis_server: RedisServer) -> None:
        self.workers = workers
        self.redis_server = redis_server
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.kills = 0
        self.redis_kills = 0
        self.rng = random.Random(20261123)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(self.rng.uniform(1.5, 3.0)):  # the schedule of the faults
            victim = self.rng.choice(self.workers)
            victim.sigkill()
            victim.start()
            self.kills += 1
            if not self.redis_kills and time.monotonic() - started > 6:
                self.redis_server.kill()
                self.stop.wait(1.0)
                self.redis_server.start()  # same port, same AOF file
                self.redis_kills += 1
        # Children die with the *thread* that started them (PR_SET_PDEATHSIG), so this
        # thread lives until the test has stopped everything it restarted.
        self.finished.wait()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def zendesk() -> Iterator[FakeHelpdesk]:
    fake = FakeHelpdesk("zendesk", token=ZENDESK_SECRET).start()
    yield fake
    fake.stop()


def account(fake: FakeHelpdesk) -> AccountDocument:
    return AccountDocument(
        account_id="acme", version=1, round_robin=True,
        agents=[AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@acme.example",
                            role="support", notify=["in_app"]) for i in range(5)],
        auto_close=AutoClose(enabled=True, days=2),
        handoff=HandoffSettings(method="zendesk", base_url=fake.url, email=fake.email,
                                token_env=ZENDESK_TOKEN_ENV))


def conversation(i: int, turn: int) -> tuple[str, str, msgspec.Struct]:
    when = T0 + timedelta(seconds=turn)
    if i % 3 == 0:
        m = sms(message_id=f"SM-{i}-{turn}", from_number=f"+1777{i:07d}", received_at=when)
        return "inbound.sms", m.from_number, m
    if i % 3 == 1:
        m = email(message_id=f"<{i}-{turn}@mail.example>", from_email=f"c{i}@example.com",
                  received_at=when, in_reply_to=f"<{i}-0@mail.example>" if turn else None)
        return "inbound.email", m.from_email, m
    m = chat(message_id=f"wc-{i}-{turn}", session_id=f"s-{i}", sent_at=when)
    return "inbound.webchat", m.session_id, m


def test_replicas_survive_sigkills_and_a_redis_restart(
        settings: Settings, aof_redis: RedisServer, zendesk: FakeHelpdesk) -> None:
    settings = msgspec.structs.replace(settings, redis_url=aof_redis.url, clock="redis",
                                       helpdesk_allowed_hosts=("127.0.0.1",))
    clock = ClockControl(settings)
    clock.set(T0)
    publish_accounts(settings, [account(zendesk)])
    workers = [WorkerProcess(kind, settings, extra_env=SECRETS).start()
               for kind in WORKER_KINDS for _ in range(REPLICAS)]
    pipeline = Pipeline(settings)
    chaos = Chaos(workers, aof_redis)
    try:
        for worker in workers:
            worker.wait_for_log(r"ready", 120)
        for i in range(5):
            pipeline.publish("agents.presence", f"a{i}", Presence(
                account_id="acme", agent_id=f"a{i}", actor_id=f"a{i}", status="online", at=T0))
        online = f"{pipeline.base()}:online"
        deadline = time.monotonic() + 60
        while pipeline.redis.zcard(online) < 5:  # the routers applied the presence records
            assert time.monotonic() < deadline, "presence not applied"
            pipeline.events.poll(50)
        chaos.thread.start()

        # Traffic: conversations, malformed records and handoffs, interleaved and paced.
        records: list[tuple[str, str, bytes]] = []
        message_ids: dict[str, int] = {}
        for turn in range(2):
            for i in range(CONVERSATIONS):
                topic, key, m = conversation(i, turn)
                records.append((topic, key, encode(m)))
                message_ids[m.message_id] = i  # type: ignore[attr-defined]
                if turn == 1 and i % 30 == 0:
                    records.append(("inbound.sms", f"bad-{i}", b'{"account_id": 42}'))
                if turn == 1 and i % 20 == 0 and i // 20 < HANDOFFS:
                    n = i // 20
                    records.append(("handoff.requests", f"conv-{n}", encode(HandoffRequest(
                        handoff_id=f"h-{n}", account_id="acme", conversation_id=f"conv-{n}",
                        channel="webchat", consent=True, requested_at=T0,
                        visitor=HandoffVisitor(email="ana@example.com", name="Ana",
                                               authenticated=True),
                        transcript=[TranscriptLine(author="visitor", text="help", at=T0)]))))
        bad_keys = {k for t, k, _ in records if k.startswith("bad-")}
        pipeline.publish_many(records, rate=120.0)

        # Every message threaded and every ticket assigned automatically.
        def threaded(rs: list) -> bool:
            return len({r.message_id for r in rs if isinstance(r, TicketMessage)
                        and r.message_id in message_ids}) == len(message_ids)
        events = pipeline.events.wait_for(threaded, timeout_s=240, what="all threaded")
        tickets = {r.ticket_id for r in events if isinstance(r, TicketMessage)
                   and r.message_id in message_ids}
        pipeline.events.wait_for(lambda rs: tickets <= {
            r.ticket_id for r in rs if isinstance(r, TicketAssigned) and r.agent_id},
            timeout_s=240, what="all assigned")

        # An agent answers every ticket: the countdowns start; two days later all close.
        for n, ticket in enumerate(sorted(tickets)):
            pipeline.publish("tickets.commands", ticket, ReplyCommand(
                command_id=f"reply-{n}", account_id="acme", actor_id="a0", at=T0,
                ticket_id=ticket, author_kind="agent", text="Done, anything else?"))
        pipeline.tail("timers").wait_for(lambda rs: tickets <= {
            r.ticket_id for r in rs if isinstance(r, CountdownStart)}, timeout_s=240)
        clock.set(T0 + timedelta(days=2))
        time_to_close = time.monotonic() + 20
        while time.monotonic() < time_to_close and not chaos.stop.is_set():
            pipeline.events.poll()  # closes happen while replicas keep dying
        chaos.stop.set()
        # Past the closer's claim lease, so closes claimed by a killed replica go out.
        clock.set(T0 + timedelta(days=2, minutes=2))
        pipeline.events.wait_for(lambda rs: tickets <= {
            r.ticket_id for r in rs if isinstance(r, TicketStatus) and r.status == "closed"},
            timeout_s=240, what="all closed")
        results = pipeline.tail("handoff.results").wait_for(
            lambda rs: len({r.handoff_id for r in rs}) >= HANDOFFS, timeout_s=240)
        letters = pipeline.tail("deadletter").wait_for(
            lambda rs: bad_keys <= {raw.key.decode() for raw in pipeline.tail("deadletter").raw},
            timeout_s=120)
        for worker in workers:  # scale everything down at once, as an operator would
            if worker.alive:
                worker.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        exit_codes = [w.wait(40) for w in workers]  # one SIGTERM each, as an operator sends
        events = pipeline.events.drain()
    finally:
        chaos.stop.set()
        for worker in workers:
            worker.sigkill()
        pipeline.close()
        aof_redis.stop()
        chaos.finished.set()

    # every message in exactly one ticket
    ticket_of: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketMessage) and r.message_id in message_ids:
            ticket_of[r.message_id].add(r.ticket_id)
    assert set(ticket_of) == set(message_ids)
    assert all(len(t) == 1 for t in ticket_of.values())
    per_conversation: dict[int, set[str]] = defaultdict(set)
    for message_id, ts in ticket_of.items():
        per_conversation[message_ids[message_id]] |= ts
    assert all(len(t) == 1 for t in per_conversation.values())
    # every ticket's automatic assignment made once
    automatic: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketAssigned) and r.method in AUTOMATIC:
            automatic[r.ticket_id].add(r.event_id)
    assert all(len(automatic[t]) == 1 for t in tickets)
    # no double close
    closes: dict[str, set[str]] = defaultdict(set)
    for r in events:
        if isinstance(r, TicketStatus) and r.status == "closed":
            closes[r.ticket_id].add(r.event_id)
    assert all(len(closes[t]) == 1 for t in tickets)
    # no duplicate external ticket
    assert {r.handoff_id for r in results} == {f"h-{n}" for n in range(HANDOFFS)}
    assert all(len(zendesk.tickets_of(f"h-{n}")) == 1 for n in range(HANDOFFS))
    # every malformed record dead-lettered
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    # SIGTERM drains and exits cleanly
    stuck = [f"{w.kind}:{w.proc.pid} exit {code}:\n" + "\n".join(
                 line for line in w.lines if "ERROR" in line or "WARNING" in line)
             for w, code in zip(workers, exit_codes, strict=True)
             # A replica SIGTERMed while still starting (no handler yet, nothing consumed)
             # dies of the signal itself: nothing was in flight, so that is a clean stop.
             if code and not (code == -15 and not any("ready" in x for x in w.lines))]
    if stuck:
        pytest.fail("replicas that did not drain on SIGTERM:\n" + "\n\n".join(stuck))
    assert chaos.kills >= 10 and chaos.redis_kills == 1
    forced = sum(any("shutdown still running" in line for line in w.lines) for w in workers)
    print(f"\nchaos: {len(message_ids)} messages, {len(tickets)} tickets, {HANDOFFS} handoffs, "
          f"{len(bad_keys)} malformed; {chaos.kills} replica SIGKILLs, 1 Redis kill; "
          f"{len(workers) - forced} of {len(workers)} replicas drained on SIGTERM, "
          f"{forced} stopped at the {SHUTDOWN_GRACE_S:.0f} s deadline holding no batch")
