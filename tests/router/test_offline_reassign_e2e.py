"""R15 end to end (ingest + router on the controlled clock): an offline agent's tickets
awaiting them go back to the queue after the account's delay, not before, once with two
replicas, after a router restart, and not at all if the agent came back in time; the
tickets they answered last stay theirs. `ticketflow agents` shows counts against capacity."""

from __future__ import annotations

import time
from datetime import timedelta

import msgspec
import pytest
from click.testing import CliRunner

from harness.processes import WorkerProcess
from schemas.config import AccountDocument, Capacity, Condition, Rule, RuleActions
from schemas.events import TicketAssigned, TicketMessage
from tests.conftest import MONDAY_OPEN, READY, ClockControl
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, command, new_ticket, presence
from workers.cli import main
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e

DELAY = 300
OFF_AT = MONDAY_OPEN + timedelta(seconds=10)
DUE = OFF_AT + timedelta(seconds=DELAY)
QUIET_S = 3.0
"""How long a test waits to see that nothing happens (the sweep wakes on the clock)."""


def offline_account(acme: AccountDocument, **changes: object) -> AccountDocument:
    """acme with R15 on and no presence timeout (presence is only what the test sends)."""
    return msgspec.structs.replace(acme, version=2, reassign_offline_after_seconds=DELAY,
                                   presence_timeout_seconds=None, **changes)


def apply(pipeline: Pipeline, routers: list[WorkerProcess], document: AccountDocument) -> None:
    since = [len(r.lines) for r in routers]
    publish_accounts(pipeline.settings, [document])
    for r, n in zip(routers, since, strict=True):
        r.wait_for_log(rf"account acme version {document.version} loaded", since=n)


def applied(routers: list[WorkerProcess], line: str, since: list[int]) -> None:
    """Wait until one of the routers logged `line` after `since`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(line in text for r, n in zip(routers, since, strict=True) for text in r.lines[n:]):
            return
        time.sleep(0.05)
    raise TimeoutError(line)


def set_presence(pipeline: Pipeline, routers: list[WorkerProcess], agent: str, status: str,
                 at: object) -> None:
    since = [len(r.lines) for r in routers]
    presence(pipeline, agent, status, at=at)  # type: ignore[arg-type]
    applied(routers, f"presence acme {agent} {status}", since)


def reply(pipeline: Pipeline, ticket_id: str, agent: str) -> None:
    """The agent answers; returns once the router recorded it."""
    command(pipeline, "reply", ticket_id, actor_id=agent, ticket_id=ticket_id,
            author_kind="agent", text="On it.")
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.ticket_id == ticket_id and r.direction == "outbound"
        for r in rs), what=f"reply on {ticket_id}")


def ag2_tickets(pipeline: Pipeline, routers: list[WorkerProcess]) -> tuple[str, str]:
    """Two shipping tickets of ag-2 (the only one online), the second answered by ag-2;
    then ag-3 comes online and ag-2 logs out at OFF_AT."""
    set_presence(pipeline, routers, "ag-2", "online", MONDAY_OPEN)
    waiting = new_ticket(pipeline, from_number="+15550007001").ticket_id
    answered = new_ticket(pipeline, from_number="+15550007002").ticket_id
    for t in (waiting, answered):
        assert assignments(pipeline, t)[0].agent_id == "ag-2"
    reply(pipeline, answered, "ag-2")
    set_presence(pipeline, routers, "ag-3", "online", MONDAY_OPEN)
    set_presence(pipeline, routers, "ag-2", "logout", OFF_AT)
    return waiting, answered


def reassignments(pipeline: Pipeline) -> list[TicketAssigned]:
    pipeline.events.drain()
    seen: dict[str, TicketAssigned] = {}
    for r in pipeline.events.records:
        if isinstance(r, TicketAssigned) and r.reason == "agent_offline":
            seen.setdefault(r.event_id, r)
    return list(seen.values())


def wait_reassigned(pipeline: Pipeline, ticket_id: str) -> TicketAssigned:
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketAssigned) and r.ticket_id == ticket_id
        and r.reason == "agent_offline" for r in rs), what=f"{ticket_id} reassigned")
    return next(r for r in reassignments(pipeline) if r.ticket_id == ticket_id)


def quiet(pipeline: Pipeline) -> list[TicketAssigned]:
    time.sleep(QUIET_S)
    return reassignments(pipeline)


def test_fires_after_the_delay_not_before_and_only_customer_last_tickets_move(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl, acme: AccountDocument) -> None:
    apply(pipeline, [router], offline_account(acme))
    waiting, answered = ag2_tickets(pipeline, [router])
    clock.set(DUE - timedelta(seconds=1))
    assert quiet(pipeline) == []
    clock.set(DUE)
    moved = wait_reassigned(pipeline, waiting)
    assert (moved.agent_id, moved.previous_agent_id, moved.method, moved.team_id) == (
        "ag-3", "ag-2", "backlog", "shipping")
    assert [r.ticket_id for r in quiet(pipeline)] == [waiting]
    assert pipeline.ticket(answered)["agent_id"] == "ag-2"  # ag-2 answered it last
    assert pipeline.ticket(waiting)["agent_id"] == "ag-3"


def test_agent_back_in_time_keeps_every_ticket(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        clock: ClockControl, acme: AccountDocument) -> None:
    apply(pipeline, [router], offline_account(acme))
    waiting, _ = ag2_tickets(pipeline, [router])
    set_presence(pipeline, [router], "ag-2", "online", DUE - timedelta(seconds=5))
    clock.set(DUE + timedelta(seconds=60))
    assert quiet(pipeline) == []
    assert pipeline.ticket(waiting)["agent_id"] == "ag-2"


def test_two_replicas_reassign_once(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: Settings, clock: ClockControl, acme: AccountDocument) -> None:
    second = WorkerProcess("router", router_settings).start()
    try:
        second.wait_for_log(READY)
        routers = [router, second]
        apply(pipeline, routers, offline_account(acme))
        waiting, answered = ag2_tickets(pipeline, routers)
        since = [len(r.lines) for r in routers]
        clock.set(DUE)
        wait_reassigned(pipeline, waiting)
        moved = quiet(pipeline)
        assert [r.ticket_id for r in moved] == [waiting]
        fired = [line for r, n in zip(routers, since, strict=True) for line in r.lines[n:]
                 if "offline reassignment acme ag-2" in line]
        assert len(fired) == 1, fired
    finally:
        second.sigterm()
    assert len(pipeline.redis.lrange(pipeline.keys.history("acme", waiting), 0, -1)) == 2
    assert pipeline.ticket(answered)["agent_id"] == "ag-2"


def test_a_router_restarted_between_offline_and_due_still_fires(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: Settings, clock: ClockControl, acme: AccountDocument) -> None:
    apply(pipeline, [router], offline_account(acme))
    waiting, answered = ag2_tickets(pipeline, [router])
    assert router.sigterm() == 0
    clock.set(DUE)  # while no router runs
    restarted = WorkerProcess("router", router_settings).start()
    try:
        restarted.wait_for_log(READY)
        moved = wait_reassigned(pipeline, waiting)
        assert (moved.agent_id, moved.method) == ("ag-3", "backlog")
        assert [r.ticket_id for r in quiet(pipeline)] == [waiting]
    finally:
        restarted.sigterm()
    assert pipeline.ticket(answered)["agent_id"] == "ag-2"


def test_agents_command_shows_status_and_counts_against_capacity(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: Settings, clock: ClockControl, acme: AccountDocument) -> None:
    agents = [msgspec.structs.replace(a, capacity=Capacity(sms=5), skills={"fr": 3})
              if a.id == "ag-2" else a for a in acme.agents]
    apply(pipeline, [router], offline_account(acme, agents=agents))
    set_presence(pipeline, [router], "ag-2", "online", MONDAY_OPEN)
    for n in range(2):
        ticket = new_ticket(pipeline, from_number=f"+1555000710{n}").ticket_id
        assert assignments(pipeline, ticket)[0].agent_id == "ag-2"
    env = router_settings.to_env()
    result = CliRunner().invoke(main, ["agents", "--account", "acme", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {row["agent_id"]: row for row in msgspec.json.decode(result.stdout)}
    assert rows["ag-2"]["status"] == "online" and rows["ag-3"]["status"] == "offline"
    assert {c["channel"]: (c["open"], c["capacity"]) for c in rows["ag-2"]["load"]} == {
        "sms": (2, 5), "email": (0, None), "webchat": (0, None)}
    assert rows["ag-2"]["skills"] == {"fr": 3}
    assert rows["ag-2"]["last_auto_at"] is not None and rows["ag-3"]["last_auto_at"] is None
    text = CliRunner().invoke(main, ["agents", "--account", "acme"], env=env)
    assert text.exit_code == 0, text.output
    assert any(line.startswith("ag-2") and "sms=2/5" in line and "online" in line
               for line in text.stdout.splitlines()), text.output


def test_unassigned_view_lists_waiting_tickets_in_queue_order_with_priority(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess,
        router_settings: Settings, acme: AccountDocument) -> None:
    urgent_rule = Rule(id="urgent", name="urgent SMS", trigger="ticket_created",
                       groups=[[Condition(field="body", op="contains", value="URGENT")]],
                       actions=RuleActions(team_id="shipping", priority="urgent"))
    apply(pipeline, [router], offline_account(acme, rules=[urgent_rule, *acme.rules]))
    # Nobody is online: every ticket waits.
    plain = new_ticket(pipeline, from_number="+15550007201").ticket_id
    urgent = new_ticket(pipeline, from_number="+15550007202", body="URGENT: help").ticket_id
    for t in (plain, urgent):
        assert assignments(pipeline, t)[0].agent_id is None
    result = CliRunner().invoke(main, ["tickets", "--account", "acme", "--view", "unassigned",
                                       "--json"], env=router_settings.to_env())
    assert result.exit_code == 0, result.output
    rows = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert [(r["ticket_id"], r["priority"]) for r in rows] == [(urgent, "urgent"),
                                                               (plain, None)]
