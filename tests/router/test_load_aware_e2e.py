"""R11-R14 and the waiting queue of R12 end to end: ingest + router (+ closer) on the real
broker (tansu, or Apache Kafka with TICKETFLOW_TEST_BROKER=kafka) and redis-server."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.config import AccountDocument, Capacity, Condition, Rule, RuleActions
from schemas.events import TicketAssigned, TicketMessage, TicketStatus
from tests.conftest import MONDAY_OPEN, ClockControl
from tests.messages import sms
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e

_phone = iter(range(10_000, 99_999))


def phone() -> str:
    return f"+1555{next(_phone):07d}"


def body_rule(rule_id: str, word: str, **actions: object) -> Rule:
    return Rule(id=rule_id, name=rule_id, trigger="ticket_created",
                groups=[[Condition(field="body", op="contains", value=word)]],
                actions=RuleActions(team_id="shipping", **actions))  # type: ignore[arg-type]


def load_aware(acme: AccountDocument, version: int = 2, *, method: str = "round_robin",
               capacity: dict[str, Capacity] | None = None,
               skills: dict[str, dict[str, int]] | None = None) -> AccountDocument:
    """acme, always open, no presence timeout (the clock may jump days), with these
    capacities and skills; rules: `urgent` and `low` in the body set a priority, `bonjour`
    requires French, `hallo` German (nobody has it); every SMS goes to shipping."""
    agents = [msgspec.structs.replace(a, capacity=(capacity or {}).get(a.id, Capacity()),
                                      skills=(skills or {}).get(a.id, {}))
              for a in acme.agents]
    rules = [body_rule("urgent", "urgent", priority="urgent"),
             body_rule("low", "whenever", priority="low"),
             body_rule("fr", "bonjour", skills=["fr"]),
             body_rule("de", "hallo", skills=["de"]), *acme.rules]
    return msgspec.structs.replace(acme, version=version, business_hours=None,
                                   presence_timeout_seconds=None, agents=agents, rules=rules,
                                   assignment_method=method)  # type: ignore[arg-type]


def apply(pipeline: Pipeline, router: WorkerProcess, document: AccountDocument) -> None:
    since = len(router.lines)
    publish_accounts(pipeline.settings, [document])
    router.wait_for_log(rf"account acme version {document.version} loaded", since=since)


def ticket(pipeline: Pipeline, text: str = "Where is my order?") -> str:
    return new_ticket(pipeline, from_number=phone(), body=text).ticket_id


def first(pipeline: Pipeline, ticket_id: str) -> TicketAssigned:
    return assignments(pipeline, ticket_id)[0]


def load(pipeline: Pipeline, agent: str) -> dict[str, int]:
    counts = pipeline.redis.hgetall(pipeline.keys.load("acme", agent))
    return {c: int(n) for c, n in counts.items() if int(n)}


def holder(pipeline: Pipeline, ticket_id: str) -> str | None:
    return pipeline.redis.hget(pipeline.keys.ticket("acme", ticket_id), "agent_id")


def waiting(pipeline: Pipeline) -> list[str]:
    return pipeline.redis.zrange(pipeline.keys.queue("acme"), 0, -1)


def status_event(pipeline: Pipeline, ticket_id: str, status: str) -> TicketStatus:
    records = pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketStatus) and r.ticket_id == ticket_id and r.status == status
        for r in rs), what=f"{ticket_id} {status}")
    return next(r for r in records if isinstance(r, TicketStatus) and r.ticket_id == ticket_id
                and r.status == status)


def test_capacity_bounds_round_robin_the_queue_waits_by_priority_and_one_place_one_ticket(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R11: full agents are skipped, nobody goes above capacity automatically; R12: what
    nobody can take waits, by priority then arrival; a closed or snoozed ticket's place
    assigns exactly one waiting ticket, the urgent one first (`capacity_freed`); counts
    follow close, snooze, reopen, transfer, unassign, and manual assignment may exceed."""
    apply(pipeline, router, load_aware(acme, capacity={"ag-2": Capacity(sms=1),
                                                       "ag-3": Capacity(sms=1)}))
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, applied_by=router)
    t1, t2 = ticket(pipeline), ticket(pipeline)
    assert {first(pipeline, t1).agent_id, first(pipeline, t2).agent_id} == {"ag-2", "ag-3"}
    normal, low = ticket(pipeline), ticket(pipeline, "whenever")
    urgent = ticket(pipeline, "urgent!")
    for t in (normal, low, urgent):  # both full: they wait, unassigned
        assert (first(pipeline, t).agent_id, first(pipeline, t).team_id) == (None, "shipping")
    assert first(pipeline, urgent).priority == "urgent"
    assert first(pipeline, normal).priority is None  # no rule gave one: normal, not carried
    assert waiting(pipeline) == [urgent, normal, low]
    assert load(pipeline, "ag-2") == load(pipeline, "ag-3") == {"sms": 1}

    by_agent = {holder(pipeline, t1): t1, holder(pipeline, t2): t2}
    command(pipeline, "set_status", by_agent["ag-2"], actor_id="ag-2",
            ticket_id=by_agent["ag-2"], status="closed")
    freed = assignments(pipeline, urgent, 2)[1]
    assert (freed.agent_id, freed.method, freed.reason, freed.priority) == (
        "ag-2", "backlog", "capacity_freed", "urgent")
    assert waiting(pipeline) == [normal, low]  # one place, one ticket
    command(pipeline, "set_status", by_agent["ag-3"], actor_id="ag-3",
            ticket_id=by_agent["ag-3"], status="snoozed")
    freed = assignments(pipeline, normal, 2)[1]
    assert (freed.agent_id, freed.method, freed.reason) == ("ag-3", "backlog", "capacity_freed")
    assert waiting(pipeline) == [low]
    assert load(pipeline, "ag-2") == load(pipeline, "ag-3") == {"sms": 1}

    # The customer writes again: the closed ticket reopens, still ag-2's (over capacity:
    # not an automatic assignment), and counts again.
    closed = by_agent["ag-2"]
    number = pipeline.redis.hget(pipeline.keys.ticket("acme", closed), "customer_phone")
    pipeline.publish("inbound.sms", number, sms(from_number=number, body="still there?"))
    status_event(pipeline, closed, "open")
    pipeline.events.wait_for(lambda rs: load(pipeline, "ag-2") == {"sms": 2},
                             what="reopened ticket counted")
    # Transfer clears its agent: ag-2 is back at capacity, nothing more.
    command(pipeline, "transfer", closed, actor_id="ag-3", ticket_id=closed, team_id="billing")
    pipeline.events.wait_for(lambda rs: load(pipeline, "ag-2") == {"sms": 1},
                             what="transferred ticket no longer counted")
    assert waiting(pipeline) == [low]
    # Unassigning frees a place: the low ticket takes it.
    command(pipeline, "assign", urgent, actor_id="ag-3", ticket_ids=[urgent], agent_id=None)
    freed = assignments(pipeline, low, 2)[1]
    assert (freed.agent_id, freed.reason, freed.priority) == ("ag-2", "capacity_freed", "low")
    assert waiting(pipeline) == [] and load(pipeline, "ag-2") == {"sms": 1}
    # Manual assignment may exceed capacity.
    command(pipeline, "assign", urgent, actor_id="ag-3", ticket_ids=[urgent, closed],
            agent_id="ag-3")
    pipeline.events.wait_for(lambda rs: load(pipeline, "ag-3") == {"sms": 3},
                             what="manual assignments above capacity")
    assert pipeline.redis.smembers(pipeline.keys.open_of("acme", "ag-3")) == {
        normal, urgent, closed}
    # A snoozed ticket that opens again counts again.
    snoozed = by_agent["ag-3"]
    command(pipeline, "set_status", snoozed, actor_id="ag-3", ticket_id=snoozed, status="open")
    pipeline.events.wait_for(lambda rs: load(pipeline, "ag-3") == {"sms": 4},
                             what="reopened snoozed ticket counted")


def test_a_ticket_the_closer_closes_frees_its_place(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        closer: WorkerProcess, clock: ClockControl, acme: AccountDocument) -> None:
    """R12 with the closer's auto-close: its ticket.status closed frees the agent's place,
    and the router assigns the next waiting ticket (`capacity_freed`)."""
    apply(pipeline, router, load_aware(acme, capacity={"ag-2": Capacity(sms=0),
                                                       "ag-3": Capacity(sms=1)}))
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, applied_by=router)
    held, queued = ticket(pipeline), ticket(pipeline)
    assert first(pipeline, held).agent_id == "ag-3"  # ag-2 takes no SMS automatically (0)
    assert first(pipeline, queued).agent_id is None
    command(pipeline, "reply", held, actor_id="ag-3", ticket_id=held, author_kind="agent",
            text="On its way")
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.ticket_id == held
        and r.direction == "outbound" for r in rs), what="reply recorded")
    clock.set(MONDAY_OPEN + timedelta(days=2, minutes=1))
    closed = status_event(pipeline, held, "closed")
    assert closed.reason == "inactivity"
    freed = assignments(pipeline, queued, 2)[1]
    assert (freed.agent_id, freed.method, freed.reason) == ("ag-3", "backlog", "capacity_freed")
    assert load(pipeline, "ag-3") == {"sms": 1} and load(pipeline, "ag-2") == {}


def test_balanced_gives_the_least_loaded_then_the_longest_waiting_agent(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R13: fewest open assigned tickets; ties go to the oldest last automatic assignment
    (never assigned first), then document order; closing a ticket lowers the count."""
    apply(pipeline, router, load_aware(acme, method="balanced"))
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, applied_by=router)

    def next_agent() -> tuple[str, str | None]:
        t = ticket(pipeline)
        change = first(pipeline, t)
        assert change.method == "balanced"
        return t, change.agent_id

    a, on_a = next_agent()
    assert on_a == "ag-2"  # both never assigned: document order
    assert next_agent()[1] == "ag-3"  # ag-2 has one more open
    assert next_agent()[1] == "ag-2"  # 1-1: ag-2's last automatic assignment is older
    command(pipeline, "set_status", a, actor_id="ag-2", ticket_id=a, status="closed")
    status_event(pipeline, a, "closed")
    pipeline.events.wait_for(lambda rs: load(pipeline, "ag-2") == {"sms": 1}, what="closed")
    assert next_agent()[1] == "ag-3"  # 1-1 again: ag-3 was served longer ago
    assert next_agent()[1] == "ag-2"  # ag-2 has 1 open, ag-3 2


def test_skills_filter_the_eligible_agents_and_the_ticket_waits_for_one(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R14: only agents with every required skill are eligible, by the account's method;
    with none online the ticket waits and goes to the first that comes online (R12)."""
    apply(pipeline, router, load_aware(acme, skills={"ag-3": {"fr": 2}}))
    presence(pipeline, "ag-2", applied_by=router)
    french = ticket(pipeline, "bonjour, ma commande ?")
    assert first(pipeline, french).agent_id is None  # ag-2 is online but speaks no French
    assert first(pipeline, ticket(pipeline)).agent_id == "ag-2"  # no skill asked
    assert waiting(pipeline) == [french]
    german = ticket(pipeline, "hallo")
    presence(pipeline, "ag-3", applied_by=router)
    drained = assignments(pipeline, french, 2)[1]
    assert (drained.agent_id, drained.method, drained.reason) == (
        "ag-3", "backlog", "agent_online")
    assert waiting(pipeline) == [german]  # nobody speaks German
    # Round robin stays among the skilled: every French ticket goes to ag-3.
    assert {first(pipeline, ticket(pipeline, "bonjour")).agent_id for _ in range(3)} == {"ag-3"}
    plain = [first(pipeline, ticket(pipeline)).agent_id for _ in range(2)]
    assert sorted(plain) == ["ag-2", "ag-3"]  # without a skill both take turns


def test_a_capacity_raised_by_a_new_document_drains_the_queue(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R12: a capacity raised is a freed place; capacity 0 means no automatic assignment."""
    zero = {"ag-2": Capacity(sms=0), "ag-3": Capacity(sms=0)}
    apply(pipeline, router, load_aware(acme, capacity=zero))
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, applied_by=router)
    tickets = [ticket(pipeline) for _ in range(3)]
    assert all(first(pipeline, t).agent_id is None for t in tickets)
    apply(pipeline, router, load_aware(acme, 3, capacity={"ag-2": Capacity(sms=0),
                                                          "ag-3": Capacity(sms=2)}))
    drained = [assignments(pipeline, t, 2)[1] for t in tickets[:2]]
    assert {(d.agent_id, d.reason) for d in drained} == {("ag-3", "capacity_freed")}
    assert waiting(pipeline) == [tickets[2]] and load(pipeline, "ag-3") == {"sms": 2}


def test_a_single_agent_over_capacity_leaves_tickets_waiting_until_a_place_frees(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R8 under R11: the only agent gets every ticket (`solo`, online or not), but never
    above capacity; the rest wait and the freed place takes the next (`backlog`)."""
    solo = load_aware(acme, capacity={"ag-3": Capacity(sms=1)})
    apply(pipeline, router, msgspec.structs.replace(
        solo, agents=[a for a in solo.agents if a.id == "ag-3"]))
    held, kept, later = ticket(pipeline), ticket(pipeline), ticket(pipeline)
    assert (first(pipeline, held).agent_id, first(pipeline, held).method) == ("ag-3", "solo")
    assert first(pipeline, kept).agent_id is None and first(pipeline, later).agent_id is None
    assert waiting(pipeline) == [kept, later] and load(pipeline, "ag-3") == {"sms": 1}
    command(pipeline, "set_status", held, actor_id="ag-3", ticket_id=held, status="closed")
    freed = assignments(pipeline, kept, 2)[1]
    assert (freed.agent_id, freed.method, freed.reason) == ("ag-3", "backlog",
                                                            "capacity_freed")
    assert waiting(pipeline) == [later] and load(pipeline, "ag-3") == {"sms": 1}


def test_a_transfer_nobody_in_the_team_can_take_waits_for_a_place(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    """R6 with a team that picks on transfer, under R11/R12: both of shipping's agents are
    full, so the transferred ticket waits in shipping's queue, and the next place freed in
    shipping takes it."""
    full = load_aware(acme, capacity={"ag-2": Capacity(sms=1), "ag-3": Capacity(sms=1)})
    apply(pipeline, router, msgspec.structs.replace(full, teams=[
        msgspec.structs.replace(t, auto_assign_on_transfer=(t.id == "shipping"))
        for t in full.teams]))
    for agent in ("ag-2", "ag-3"):
        presence(pipeline, agent, applied_by=router)
    t1, t2 = ticket(pipeline), ticket(pipeline)  # shipping's rule: ag-2 and ag-3, now full
    moved = ticket(pipeline)
    assert first(pipeline, moved).agent_id is None and waiting(pipeline) == [moved]
    command(pipeline, "transfer", moved, actor_id="ag-3", ticket_id=moved, team_id="billing")
    assert assignments(pipeline, moved, 2)[1].team_id == "billing"
    assert waiting(pipeline) == []  # billing does not pick on transfer: held, not waiting
    command(pipeline, "transfer", moved, actor_id="ag-3", ticket_id=moved,
            team_id="shipping")
    back = assignments(pipeline, moved, 3)[2]
    assert (back.team_id, back.agent_id, back.method) == ("shipping", None, "transfer")
    assert waiting(pipeline) == [moved]
    closing = t1 if holder(pipeline, t1) == "ag-2" else t2
    command(pipeline, "set_status", closing, actor_id="ag-2", ticket_id=closing,
            status="closed")
    freed = assignments(pipeline, moved, 4)[3]
    assert (freed.team_id, freed.agent_id, freed.method, freed.reason) == (
        "shipping", "ag-2", "backlog", "capacity_freed")
    assert waiting(pipeline) == []


def test_two_replicas_never_put_an_agent_above_capacity(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: object, acme: AccountDocument) -> None:
    """R11 across replicas: tickets racing through two routers fill exactly the places
    there are, each ticket assigned once; freed places take exactly as many waiting ones."""
    apply(pipeline, router, load_aware(acme, capacity={"ag-2": Capacity(sms=3),
                                                       "ag-3": Capacity(sms=4)}))
    second = WorkerProcess("router", router_settings).start()  # type: ignore[arg-type]
    try:
        second.wait_for_log(r"partitions assigned: [1-9]")
        for agent in ("ag-2", "ag-3"):
            presence(pipeline, agent, applied_by=None)
        pipeline.events.wait_for(lambda rs: pipeline.redis.zcard(
            pipeline.keys.online("acme")) == 2, what="both agents online")
        messages = [sms(from_number=phone(), body="race") for _ in range(40)]
        pipeline.publish_many([("inbound.sms", m.from_number, encode(m)) for m in messages])
        pipeline.events.wait_for(lambda rs: len({
            r.ticket_id for r in rs if isinstance(r, TicketAssigned)}) >= 40,
            timeout_s=120, what="40 tickets routed")
        assert load(pipeline, "ag-2") == {"sms": 3} and load(pipeline, "ag-3") == {"sms": 4}
        assert len(waiting(pipeline)) == 33
        held = sorted(pipeline.redis.smembers(pipeline.keys.open_of("acme", "ag-3")))
        for t in held[:2]:  # two places free, handled by whichever replica reads the command
            command(pipeline, "set_status", t, actor_id="ag-3", ticket_id=t, status="closed")
        pipeline.events.wait_for(lambda rs: len({
            r.ticket_id for r in rs if isinstance(r, TicketAssigned) and r.agent_id}) >= 9,
            what="two waiting tickets take the two places")
        assert len(waiting(pipeline)) == 31 and load(pipeline, "ag-3") == {"sms": 4}
    finally:
        second.sigterm()
    changes: dict[str, set[str]] = {}
    for r in pipeline.events.records:
        if isinstance(r, TicketAssigned) and r.agent_id:
            changes.setdefault(r.ticket_id, set()).add(r.event_id)
    assert all(len(ids) == 1 for ids in changes.values()), "a ticket was assigned twice"
    per_agent = Counter(pipeline.redis.hget(pipeline.keys.ticket("acme", t), "agent_id")
                        for t in changes)
    assert per_agent == {"ag-2": 3, "ag-3": 6}  # 4 held (2 of them closed) + 2 drained
