"""R1, R2, R8, R9 end to end: ingest + router on tansu and redis-server."""

from __future__ import annotations

import threading
from collections import Counter

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.config import AccountDocument, AgentConfig, Condition, Rule, RuleActions
from schemas.events import Notification, TicketAssigned, TicketCreated
from tests.messages import email, sms
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def apply(pipeline: Pipeline, router: WorkerProcess, *documents: AccountDocument) -> None:
    since = len(router.lines)
    publish_accounts(pipeline.settings, list(documents))
    for d in documents:
        router.wait_for_log(rf"account {d.account_id} version {d.version} loaded", since=since)


def test_rules_in_order_first_match_then_team_conditions(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        acme: AccountDocument) -> None:
    rules = [
        Rule(id="off", name="inactive", trigger="ticket_created", active=False,
             groups=[[Condition(field="channel", op="in", value=["email"])]],
             actions=RuleActions(team_id="shipping")),
        Rule(id="refunds", name="refund emails to Kris", trigger="ticket_created",
             groups=[[Condition(field="channel", op="in", value=["email"]),
                      Condition(field="subject", op="contains", value="refund")],
                     [Condition(field="tags", op="any_of", value=["chargeback"])]],
             actions=RuleActions(team_id="billing", agent_id="ag-1")),
        Rule(id="retag", name="parcel tag to shipping", trigger="tags_changed",
             groups=[[Condition(field="tags", op="contains", value="parcel")]],
             actions=RuleActions(team_id="shipping")),
    ]
    apply(pipeline, router, msgspec.structs.replace(acme, version=2, rules=rules))
    presence(pipeline, "ag-2", applied_by=router)

    def first_change(message: object, topic: str, key: str) -> TicketAssigned:
        pipeline.publish(topic, key, message)  # type: ignore[arg-type]
        created = pipeline.events.wait_for(lambda rs: any(
            isinstance(r, TicketCreated) and r.body == message.text  # type: ignore[attr-defined]
            for r in rs))
        ticket = next(r.ticket_id for r in created if isinstance(r, TicketCreated)
                      and r.body == message.text)  # type: ignore[attr-defined]
        return assignments(pipeline, ticket)[0]

    # Both conditions of the first group hold: rule names an agent -> assigned, even offline.
    by_rule = first_change(email(subject="Refund please", text="m1"), "inbound.email", "a")
    assert (by_rule.team_id, by_rule.agent_id, by_rule.method, by_rule.rule_id) == (
        "billing", "ag-1", "rule", "refunds")
    # The second group alone (OR across groups).
    by_tag = first_change(email(subject="Hello", text="m2", tags=["chargeback"]),
                          "inbound.email", "b")
    assert (by_tag.agent_id, by_tag.rule_id) == ("ag-1", "refunds")
    # No rule: team routing by segment (vip -> billing), then round robin among online.
    by_team = first_change(email(subject="Hello", text="m3", segments=["vip"]),
                           "inbound.email", "c")
    assert (by_team.team_id, by_team.agent_id, by_team.method, by_team.rule_id) == (
        "billing", "ag-2", "round_robin", None)
    # tags_changed trigger: re-tagging routes to shipping.
    command(pipeline, "set_tags", by_team.ticket_id, actor_id="ag-2",
            ticket_id=by_team.ticket_id, tags=["parcel"])
    retagged = assignments(pipeline, by_team.ticket_id, 2)[1]
    assert (retagged.previous_team_id, retagged.team_id, retagged.rule_id) == (
        "billing", "shipping", "retag")
    # Nothing matches and no team: account-wide round robin.
    plain = first_change(email(subject="Hi", text="m4"), "inbound.email", "d")
    assert (plain.team_id, plain.agent_id, plain.method) == (None, "ag-2", "round_robin")


def test_solo_account_gets_every_ticket(pipeline: Pipeline, ingest: WorkerProcess,
                                        router: WorkerProcess, acme: AccountDocument) -> None:
    solo = AccountDocument(account_id="solo", version=1, round_robin=False, agents=[
        AgentConfig(id="me", name="Me", email="me@solo.example", role="owner",
                    notify=["push"])])
    apply(pipeline, router, solo)
    created = new_ticket(pipeline, account_id="solo", from_number="+15550009999")
    [change] = assignments(pipeline, created.ticket_id)
    assert (change.agent_id, change.method) == ("me", "solo")
    note = pipeline.tail("notifications").wait_for(lambda rs: len(rs) >= 1)[0]
    assert (note.agent_id, note.kind, note.channels) == ("me", "assigned", ["push"])


def five_agent_account() -> AccountDocument:
    return AccountDocument(account_id="rr5", version=1, round_robin=True, agents=[
        AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@rr.example", role="support")
        for i in range(5)])


def test_two_replicas_assign_2000_tickets_fairly_and_once(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: object) -> None:
    apply(pipeline, router, five_agent_account())
    second = WorkerProcess("router", router_settings).start()  # type: ignore[arg-type]
    try:
        second.wait_for_log(r"partitions assigned: [1-9]")
        for i in range(5):
            presence(pipeline, f"a{i}", account="rr5")
        for i in range(5):
            second_or_first = f"presence rr5 a{i} online"
            try:
                router.wait_for_log(second_or_first, timeout_s=1)
            except TimeoutError:
                second.wait_for_log(second_or_first)
        messages = [sms(account_id="rr5", from_number=f"+1666{i:07d}") for i in range(2000)]
        pipeline.publish_many([("inbound.sms", m.from_number, encode(m)) for m in messages])
        events = pipeline.events.wait_for(
            lambda rs: len({r.ticket_id for r in rs if isinstance(r, TicketAssigned)}) >= 2000,
            timeout_s=180, what="2000 tickets assigned")
        assert any("partitions assigned" in line for line in second.lines)
    finally:
        second.sigterm()
    changes: dict[str, set[str]] = {}
    for r in events:
        if isinstance(r, TicketAssigned):
            changes.setdefault(r.ticket_id, set()).add(r.event_id)
    assert all(len(ids) == 1 for ids in changes.values()), "a ticket was assigned twice"
    per_agent = Counter(pipeline.redis.hget(pipeline.keys.ticket("rr5", t), "agent_id")
                        for t in changes)
    assert set(per_agent) == {f"a{i}" for i in range(5)}
    assert max(per_agent.values()) - min(per_agent.values()) <= 1, per_agent
    assert len(pipeline.redis.lrange(pipeline.keys.history("rr5", next(iter(changes))),
                                     0, -1)) == 1


def test_agent_going_offline_mid_stream_gets_nothing_after(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    apply(pipeline, router, five_agent_account())
    for i in range(5):
        presence(pipeline, f"a{i}", account="rr5")
    for i in range(5):  # each agent's record may sit on another partition
        router.wait_for_log(f"presence rr5 a{i} online")
    first = [sms(account_id="rr5", from_number=f"+1777{i:07d}") for i in range(300)]
    later = [sms(account_id="rr5", from_number=f"+1888{i:07d}") for i in range(300)]
    stream = threading.Thread(target=pipeline.publish_many,
                              args=([("inbound.sms", m.from_number, encode(m)) for m in first],))
    stream.start()
    presence(pipeline, "a0", "offline", account="rr5", applied_by=router)
    stream.join()
    # The late tickets must form one run of the rotation: with first-stream tickets still
    # being routed from other partitions, the two would interleave and the late ones alone
    # need not split evenly.
    first_numbers = {m.from_number for m in first}
    pipeline.events.wait_for(lambda rs: len({
        r.ticket_id for r in rs if isinstance(r, TicketCreated)
        and r.customer.phone in first_numbers} & {
        r.ticket_id for r in rs if isinstance(r, TicketAssigned)}) >= 300,
        what="the first 300 tickets routed")
    pipeline.publish_many([("inbound.sms", m.from_number, encode(m)) for m in later])
    late_numbers = {m.from_number for m in later}
    created = pipeline.events.wait_for(lambda rs: len(
        [r for r in rs if isinstance(r, TicketCreated) and r.customer.phone in late_numbers])
        >= 300)
    late_tickets = {r.ticket_id for r in created
                    if isinstance(r, TicketCreated) and r.customer.phone in late_numbers}
    events = pipeline.events.wait_for(lambda rs: late_tickets <= {
        r.ticket_id for r in rs if isinstance(r, TicketAssigned)})
    late_agents = Counter(r.agent_id for r in events
                          if isinstance(r, TicketAssigned) and r.ticket_id in late_tickets)
    assert "a0" not in late_agents and set(late_agents) == {"a1", "a2", "a3", "a4"}
    assert max(late_agents.values()) - min(late_agents.values()) <= 1


def test_redelivered_ticket_keeps_its_first_assignment(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    presence(pipeline, "ag-2")
    presence(pipeline, "ag-3", applied_by=router)
    created = new_ticket(pipeline)
    [first] = assignments(pipeline, created.ticket_id)
    # Replay the ticket.created record (as a redelivery would) and a newer ticket after it.
    pipeline.publish("tickets.events", created.ticket_id, created)
    other = new_ticket(pipeline, from_number="+15550004444")
    assignments(pipeline, other.ticket_id)
    replays = [r for r in pipeline.events.drain()
               if isinstance(r, TicketAssigned) and r.ticket_id == created.ticket_id]
    assert {r.event_id for r in replays} == {first.event_id}
    assert {r.agent_id for r in replays} == {first.agent_id}
    history = pipeline.redis.lrange(pipeline.keys.history("acme", created.ticket_id), 0, -1)
    assert len(history) == 1
    notes = [n for n in pipeline.tail("notifications").drain() if isinstance(n, Notification)]
    assert {n.kind for n in notes} >= {"assigned", "team_new_ticket"}
