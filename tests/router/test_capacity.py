"""R11-R14 and the queue of R12 as pure logic: the choice the router's Lua must mirror."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from schemas.config import AccountDocument, AgentConfig, Capacity, Rule, RuleActions
from workers.router.capacity import (
    CHANNELS,
    PRIORITY_RANK,
    AgentLoad,
    Assignment,
    Routing,
    WaitingTicket,
    assign_one,
    choose_agent,
    drain,
    has_room,
    is_eligible,
    load_of,
    queue_order,
    queue_score,
    required_skills,
)
from workers.router.rotation import next_in_rotation

IDS = ["a", "b", "c", "d", "e", "f"]
SKILLS = ["fr", "de", "returns"]
PRIORITIES = list(PRIORITY_RANK)

channels = st.sampled_from(CHANNELS)
skill_sets = st.frozensets(st.sampled_from(SKILLS), max_size=3)


@st.composite
def loads(draw: st.DrawFn, agent_id: str) -> AgentLoad:
    return AgentLoad(
        agent_id=agent_id, online=draw(st.booleans()),
        open=draw(st.dictionaries(channels, st.integers(0, 6))),
        capacity=draw(st.dictionaries(channels, st.integers(0, 6))),
        skills=draw(skill_sets),
        last_assigned=draw(st.none() | st.integers(1, 20)))


@st.composite
def pools(draw: st.DrawFn) -> list[AgentLoad]:
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=len(IDS), unique=True))
    return [draw(loads(i)) for i in ids]


def agent(agent_id: str, online: bool = True, skills: tuple[str, ...] = (),
          last: int | None = None, **open_and_capacity: int) -> AgentLoad:
    """`sms=2, cap_sms=3`: two open SMS tickets out of three."""
    open_ = {c: n for c, n in open_and_capacity.items() if not c.startswith("cap_")}
    cap = {c[4:]: n for c, n in open_and_capacity.items() if c.startswith("cap_")}
    return AgentLoad(agent_id=agent_id, online=online, open=open_, capacity=cap,  # type: ignore[arg-type]
                     skills=frozenset(skills), last_assigned=last)


# --- eligibility (R3, R11, R14) ---------------------------------------------------------

def test_capacity_is_per_channel_and_absent_means_unlimited() -> None:
    kris = agent("k", sms=2, cap_sms=3, email=40, webchat=1, cap_webchat=1)
    assert has_room(kris, "sms") and has_room(kris, "email") and not has_room(kris, "webchat")
    assert not has_room(agent("z", cap_sms=0), "sms")  # 0: no automatic assignment
    # Above capacity already (a manual assignment may exceed it): still no room.
    assert not has_room(agent("m", sms=5, cap_sms=3), "sms")


def test_round_robin_skips_full_offline_and_unskilled_agents_without_passing_them() -> None:
    pool = [agent("a", sms=3, cap_sms=3), agent("b", online=False),
            agent("c", skills=("de",)), agent("d", skills=("fr",))]
    assert choose_agent(pool, "sms", {"fr"}) == "d"
    assert choose_agent(pool, "sms") == "c"                     # a full, b offline
    assert choose_agent(pool, "sms", cursor="c") == "d"
    assert choose_agent(pool, "sms", cursor="d") == "c"         # wraps past a and b
    assert choose_agent(pool, "email", cursor="d") == "a"       # a has room on email
    assert choose_agent(pool, "sms", {"fr", "de"}) is None      # nobody has both: waits
    assert choose_agent([], "sms") is None


def test_balanced_counts_open_tickets_on_every_channel() -> None:
    pool = [agent("a", sms=1, email=3), agent("b", sms=2), agent("c", webchat=4)]
    assert choose_agent(pool, "sms", method="balanced") == "b"


def test_balanced_ties_go_to_the_oldest_assignment_then_document_order() -> None:
    pool = [agent("a", sms=1, last=7), agent("b", sms=1, last=3), agent("c", sms=1, last=5)]
    assert choose_agent(pool, "sms", method="balanced") == "b"
    never = [*pool, agent("d", sms=1), agent("e", sms=1)]       # never assigned: oldest
    assert choose_agent(never, "sms", method="balanced") == "d"
    same = [agent("a", last=2), agent("b", last=2)]
    assert choose_agent(same, "sms", method="balanced") == "a"
    # Full, offline or unskilled agents are never the minimum, however few tickets they have.
    assert choose_agent([agent("a", sms=0, cap_sms=0), agent("b", online=False),
                         agent("c", sms=9)], "sms", method="balanced") == "c"


@given(pools(), channels, skill_sets, st.sampled_from(["round_robin", "balanced"]),
       st.none() | st.sampled_from(IDS))
def test_the_choice_is_never_above_capacity_offline_or_unskilled(
        pool: list[AgentLoad], channel: str, skills: frozenset[str], method: str,
        cursor: str | None) -> None:
    chosen = choose_agent(pool, channel, skills, method, cursor)  # type: ignore[arg-type]
    eligible = [a for a in pool if is_eligible(a, channel, skills)]  # type: ignore[arg-type]
    if chosen is None:
        assert eligible == []  # the ticket waits only when nobody can take it (R12)
        return
    picked = next(a for a in pool if a.agent_id == chosen)
    limit = picked.capacity.get(channel)  # type: ignore[call-overload]
    assert limit is None or picked.open_on(channel) < limit  # type: ignore[arg-type]
    assert limit != 0
    assert picked.online and skills <= picked.skills


@given(pools(), channels, skill_sets)
def test_balanced_picks_a_minimum_and_breaks_ties_by_age_then_order(
        pool: list[AgentLoad], channel: str, skills: frozenset[str]) -> None:
    chosen = choose_agent(pool, channel, skills, "balanced")  # type: ignore[arg-type]
    eligible = [a for a in pool if is_eligible(a, channel, skills)]  # type: ignore[arg-type]
    if not eligible:
        assert chosen is None
        return
    fewest = min(a.open_total for a in eligible)
    tied = [a for a in eligible if a.open_total == fewest]
    oldest = min(-1 if a.last_assigned is None else a.last_assigned for a in tied)
    first = next(a for a in tied
                 if (-1 if a.last_assigned is None else a.last_assigned) == oldest)
    assert chosen == first.agent_id


@given(st.lists(st.sampled_from(IDS), min_size=1, unique=True), st.data())
def test_without_capacities_or_skills_round_robin_is_todays_rotation(
        pool_ids: list[str], data: st.DataObject) -> None:
    online = data.draw(st.sets(st.sampled_from(pool_ids)))
    cursor = data.draw(st.none() | st.sampled_from(IDS))
    pool = [AgentLoad(agent_id=i, online=i in online) for i in pool_ids]
    assert choose_agent(pool, "sms", cursor=cursor) == next_in_rotation(pool_ids, online,
                                                                        cursor)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(IDS), min_size=1, unique=True), st.data(),
       st.integers(1, 60), st.sampled_from(CHANNELS))
def test_round_robin_counts_differ_by_at_most_one_over_any_stretch(
        pool_ids: list[str], data: st.DataObject, tickets: int, channel: str) -> None:
    """A constant online set and no capacity hit (capacities above what the run reaches,
    closes in between): every stretch of the run gives each agent as many tickets, +-1."""
    online = data.draw(st.sets(st.sampled_from(pool_ids), min_size=1))
    routing = Routing(
        agents={i: AgentLoad(agent_id=i, online=i in online,
                             open={channel: data.draw(st.integers(0, 3))},  # type: ignore[dict-item]
                             capacity=data.draw(st.sampled_from([{}, {channel: 200}])))
                for i in pool_ids},
        pools={"p": pool_ids}, cursors=data.draw(st.sampled_from([{}, {"p": pool_ids[-1]}])))
    served: list[str] = []
    for n in range(tickets):
        ticket = WaitingTicket(ticket_id=f"t{n}", sequence=n, channel=channel,  # type: ignore[arg-type]
                               pool="p")
        chosen, routing = assign_one(routing, ticket)
        assert chosen in online
        served.append(chosen)  # type: ignore[arg-type]
        if data.draw(st.booleans()):  # the agent closes a ticket: counts move, turns do not
            closer = data.draw(st.sampled_from(pool_ids))
            load = routing.agents[closer]
            routing = msgspec.structs.replace(routing, agents={**routing.agents, closer: (
                msgspec.structs.replace(load, open={channel: max(0, load.open_on(channel) - 1)}))})  # type: ignore[arg-type]
    for start in range(len(served)):
        for end in range(start + 1, len(served) + 1):
            counts = Counter(served[start:end])
            values = [counts[a] for a in online]
            assert max(values) - min(values) <= 1, (served, start, end)


# --- the queue (R12) ---------------------------------------------------------------------

def waiting(ticket_id: str, sequence: int, priority: str = "normal", channel: str = "sms",
            pool: str = "p", skills: tuple[str, ...] = ()) -> WaitingTicket:
    return WaitingTicket(ticket_id=ticket_id, sequence=sequence, priority=priority,  # type: ignore[arg-type]
                         channel=channel, pool=pool, skills=frozenset(skills))  # type: ignore[arg-type]


waiting_tickets = st.lists(
    st.builds(waiting, st.text("xyz", min_size=1, max_size=4), st.integers(0, 2**40 - 1),
              st.sampled_from(PRIORITIES)),
    unique_by=lambda t: t.ticket_id)


def test_queue_order_is_priority_then_arrival() -> None:
    tickets = [waiting("n1", 1), waiting("l0", 0, "low"), waiting("u9", 9, "urgent"),
               waiting("h5", 5, "high"), waiting("u3", 3, "urgent"), waiting("n2", 2)]
    assert [t.ticket_id for t in queue_order(tickets)] == ["u3", "u9", "h5", "n1", "n2", "l0"]


@given(waiting_tickets)
def test_queue_order_and_score_agree(tickets: list[WaitingTicket]) -> None:
    ordered = queue_order(tickets)
    keys = [(PRIORITY_RANK[t.priority], t.sequence) for t in ordered]
    assert keys == sorted(keys)
    scores = [queue_score(t.priority, t.sequence) for t in ordered]
    assert scores == sorted(scores)
    assert all(float(s) == s for s in scores)  # exact as a Redis sorted-set score
    assert sorted(tickets, key=lambda t: queue_score(t.priority, t.sequence)) == ordered


def test_queue_score_refuses_numbers_it_cannot_keep_exact() -> None:
    with pytest.raises(ValueError):
        queue_score("low", 2**40)


def test_a_drain_fills_places_by_priority_and_one_place_takes_one_ticket() -> None:
    routing = Routing(agents={"a": agent("a", sms=2, cap_sms=3), "b": agent("b", cap_sms=0)},
                      pools={"p": ["a", "b"]})
    queue = [waiting("t1", 1), waiting("t2", 2, "urgent"), waiting("t3", 3, "high")]
    assignments, after = drain(routing, queue)
    assert [(x.ticket_id, x.agent_id) for x in assignments] == [("t2", "a")]
    assert after.agents["a"].open_on("sms") == 3 and after.cursors == {"p": "a"}
    assert drain(after, [waiting("t3", 3, "high"), waiting("t1", 1)])[0] == []


def test_a_ticket_nobody_can_take_does_not_hold_back_the_queue() -> None:
    routing = Routing(agents={"a": agent("a", skills=("de",), cap_sms=1)},
                      pools={"p": ["a"], "q": []})
    queue = [waiting("fr", 1, "urgent", skills=("fr",)), waiting("other-pool", 2, "urgent",
                                                                  pool="q"),
             waiting("mail", 3, "high", channel="email"), waiting("sms", 4, "low")]
    assignments, _ = drain(routing, queue)
    assert [x.ticket_id for x in assignments] == ["mail", "sms"]


def test_a_drain_moves_stamps_so_balanced_alternates_between_equal_agents() -> None:
    routing = Routing(agents={"a": agent("a"), "b": agent("b")}, pools={"p": ["a", "b"]},
                      method="balanced", next_stamp=10)
    assignments, after = drain(routing, [waiting(f"t{i}", i) for i in range(4)])
    assert [x.agent_id for x in assignments] == ["a", "b", "a", "b"]
    assert (after.agents["a"].last_assigned, after.agents["b"].last_assigned) == (12, 13)
    assert after.cursors == {} and after.next_stamp == 14


@st.composite
def routings(draw: st.DrawFn) -> Routing:
    agents = {a.agent_id: a for a in draw(pools())}
    names = ["p", "q"]
    pool_map = {n: draw(st.lists(st.sampled_from(sorted(agents)), unique=True)) for n in names}
    return Routing(agents=agents, pools=pool_map,
                   method=draw(st.sampled_from(["round_robin", "balanced"])),
                   cursors=draw(st.dictionaries(st.sampled_from(names), st.sampled_from(IDS))),
                   next_stamp=21)


queues = st.lists(
    st.builds(waiting, st.text("tuvwxyz", min_size=1, max_size=3), st.integers(0, 50),
              st.sampled_from(PRIORITIES), channels, st.sampled_from(["p", "q"]),
              st.lists(st.sampled_from(SKILLS), max_size=2).map(tuple)),
    unique_by=lambda t: t.ticket_id, max_size=25)


def _eligible_for(routing: Routing, ticket: WaitingTicket) -> list[str]:
    return [a for a in routing.pools[ticket.pool]
            if is_eligible(routing.agents[a], ticket.channel, ticket.skills)]


@given(routings(), queues)
def test_a_drain_never_exceeds_capacity_and_leaves_no_place_a_waiting_ticket_fits(
        routing: Routing, queue: list[WaitingTicket]) -> None:
    assignments, after = drain(routing, queue)
    tickets = {t.ticket_id: t for t in queue}
    assert len({x.ticket_id for x in assignments}) == len(assignments)  # each once
    # In queue order, each to an agent eligible for it.
    order = [t.ticket_id for t in queue_order(queue)]
    assert [x.ticket_id for x in assignments] == [t for t in order
                                                  if t in {x.ticket_id for x in assignments}]
    taken: Counter[tuple[str, str]] = Counter()
    for x in assignments:
        ticket = tickets[x.ticket_id]
        assert x.agent_id in routing.pools[ticket.pool]
        before = routing.agents[x.agent_id]
        assert before.online and ticket.skills <= before.skills
        taken[(x.agent_id, ticket.channel)] += 1
    for (agent_id, channel), n in taken.items():
        before = routing.agents[agent_id]
        limit = before.capacity.get(channel)  # type: ignore[call-overload]
        if limit is not None:  # never more tickets than free places
            assert before.open_on(channel) + n <= limit  # type: ignore[arg-type]
        assert after.agents[agent_id].open_on(channel) == before.open_on(channel) + n  # type: ignore[arg-type]
    left = [t for t in queue if t.ticket_id not in {x.ticket_id for x in assignments}]
    assert all(_eligible_for(after, t) == [] for t in left)


@given(routings(), queues, st.data())
def test_one_freed_place_assigns_one_waiting_ticket(routing: Routing,
                                                    queue: list[WaitingTicket],
                                                    data: st.DataObject) -> None:
    # An online agent full on a channel; the queue drained as far as it goes.
    agent_id = data.draw(st.sampled_from(sorted(routing.agents)))
    channel = data.draw(channels)
    limit = data.draw(st.integers(1, 3))
    load = routing.agents[agent_id]
    full = msgspec.structs.replace(load, online=True, open={**load.open, channel: limit},
                                   capacity={**load.capacity, channel: limit})
    pools_now = dict(routing.pools)
    if data.draw(st.booleans()):  # a pool only they serve: its tickets wait for them
        pools_now["p"] = [agent_id]
    if data.draw(st.booleans()):  # and a ticket they may take, of any priority
        queue = [*queue, waiting("fit", data.draw(st.integers(0, 50)),
                                 data.draw(st.sampled_from(PRIORITIES)), channel, "p")]
    routing = msgspec.structs.replace(routing, agents={**routing.agents, agent_id: full},
                                      pools=pools_now)
    assignments, settled = drain(routing, queue)
    assert all(x.agent_id != agent_id or tickets_channel(queue, x) != channel
               for x in assignments)
    assigned = {x.ticket_id for x in assignments}
    still = [t for t in queue if t.ticket_id not in assigned]
    # One of their tickets on that channel closes: one place frees.
    load = settled.agents[agent_id]
    freed = msgspec.structs.replace(settled, agents={**settled.agents, agent_id: (
        msgspec.structs.replace(load, open={**load.open, channel: limit - 1}))})
    assignments, _ = drain(freed, still)
    fits = [t for t in still if t.channel == channel and agent_id in freed.pools[t.pool]
            and is_eligible(freed.agents[agent_id], channel, t.skills)]
    event("a waiting ticket fits the freed place" if fits else "none fits the freed place")
    assert len(assignments) == (1 if fits else 0)
    if fits:
        assert assignments[0].agent_id == agent_id
        assert assignments[0].ticket_id == queue_order(fits)[0].ticket_id


def tickets_channel(queue: list[WaitingTicket], assignment: Assignment) -> str:
    return next(t.channel for t in queue if t.ticket_id == assignment.ticket_id)


# --- from the account document ----------------------------------------------------------

def test_loads_and_required_skills_come_from_the_document() -> None:
    kris = AgentConfig(id="k", name="Kris", email="k@x.io", role="support",
                       capacity=Capacity(sms=2, webchat=0), skills={"fr": 3})
    load = load_of(kris, online=True, open_counts={"sms": 2}, last_assigned=4)
    assert load.capacity == {"sms": 2, "webchat": 0} and load.skills == {"fr"}
    assert not has_room(load, "sms") and has_room(load, "email")
    doc = AccountDocument(account_id="x", version=1, agents=[kris], rules=[
        Rule(id="r1", name="fr", trigger="ticket_created", groups=[],
             actions=RuleActions(priority="urgent", skills=["fr"]))])
    assert required_skills(doc, "r1") == {"fr"} and required_skills(doc, None) == frozenset()


@settings(max_examples=150, deadline=None)
@given(pools(), channels, skill_sets, st.sampled_from(["round_robin", "balanced"]),
       st.none() | st.sampled_from(IDS))
def test_the_lua_choice_is_the_pure_choice(pool: list[AgentLoad], channel: str,
                                           skills: frozenset[str], method: str,
                                           cursor: str | None) -> None:
    """rotation.lua's pick_agent (what every automatic assignment runs in Redis) picks the
    agent choose_agent picks: same eligibility (online, skills, room), same round-robin
    skipping, same balanced minimum and ties."""
    import asyncio

    from tests.router.lua_harness import lua_choose

    async def both() -> tuple[str | None, str | None]:
        async with lua_choose() as choose:
            return (await choose(pool, channel, skills, method, cursor),
                    choose_agent(pool, channel, skills, method, cursor))  # type: ignore[arg-type]

    lua, pure = asyncio.run(both())
    assert lua == pure
